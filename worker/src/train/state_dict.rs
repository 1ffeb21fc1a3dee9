//! PyTorch state dicts saved with `torch.save(model.state_dict(), "ckpt.pt")`, read without
//! Python. Such a file is a zip archive: `NAME/data.pkl`, a pickle of a dict from names to tensors,
//! in which each tensor refers to its storage (`NAME/data/KEY`, raw little-endian numbers) through
//! a persistent id. libtorch's C++ API reads this format, but `tch` does not expose that reader,
//! so the small part of pickle that `torch.save` writes for a dict of tensors is interpreted here.
//! Anything else (a pickled module, a custom class) is refused with what was found.

use std::collections::HashMap;
use std::io::Read;

use tch::{Kind, Tensor};

/// Why a file is not read as a state dict.
#[derive(Debug, thiserror::Error)]
pub enum StateDictError {
    #[error("cannot be opened: {0}")]
    Open(std::io::Error),
    #[error("not a PyTorch zip archive ({0}); was it saved by torch.save (PyTorch 1.6 or later)?")]
    NotAnArchive(zip::result::ZipError),
    #[error("the archive has no data.pkl: not a file saved by torch.save")]
    NoPickle,
    #[error("no `{name}` in the archive ({source})")]
    MissingEntry { name: String, source: zip::result::ZipError },
    #[error("`{name}` cannot be read: {source}")]
    Unreadable { name: String, source: std::io::Error },
    #[error(transparent)]
    Pickle(#[from] PickleError),
    #[error("it holds {0}, not a dict of tensors; save `model.state_dict()`")]
    NotADict(String),
    #[error("`{name}`: {source}")]
    Tensor { name: String, source: tch::TchError },
    #[error("`{name}`: its storage is too short for its shape ({source})")]
    ShortStorage { name: String, source: tch::TchError },
}

/// What is wrong with the pickle inside: it ends early, uses an opcode or a class a dict of
/// tensors does not, or is malformed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PickleError(String);

impl From<&str> for PickleError {
    fn from(message: &str) -> PickleError {
        PickleError(message.to_owned())
    }
}

impl From<String> for PickleError {
    fn from(message: String) -> PickleError {
        PickleError(message)
    }
}

/// A pickled value, as far as a state dict needs.
#[derive(Debug, Clone)]
enum Py {
    /// None, a boolean or a float: a state dict's structure never depends on their values.
    Scalar,
    Int(i64),
    Str(String),
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
    Global(String, String),
    /// A storage reference: `('storage', storage class, key, location, numel)`.
    Persistent(Box<Py>),
    /// A tensor rebuilt from its storage.
    Tensor(TensorRef),
    /// Another callable applied to arguments, kept only to say what it was.
    Other(String),
}

#[derive(Debug, Clone)]
struct TensorRef {
    key: String,
    kind: Kind,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

/// The named tensors of a `torch.save`d dict of tensors, in the file's order.
pub fn read(path: &str) -> Result<Vec<(String, Tensor)>, StateDictError> {
    let file = std::fs::File::open(path).map_err(StateDictError::Open)?;
    let mut archive = zip::ZipArchive::new(file).map_err(StateDictError::NotAnArchive)?;
    let entries: Vec<String> = archive.file_names().map(str::to_owned).collect();
    let pickle_name =
        entries.iter().find(|n| n.ends_with("data.pkl")).ok_or(StateDictError::NoPickle)?.clone();
    let prefix = pickle_name.trim_end_matches("data.pkl").to_owned();
    let pickle = read_entry(&mut archive, &pickle_name)?;
    let value = Machine::default().run(&pickle)?;
    let Py::Dict(items) = value else {
        return Err(StateDictError::NotADict(describe(&value)));
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut named = Vec::new();
    for (key, value) in items {
        let Py::Str(name) = key else { continue };
        let Py::Tensor(tensor) = value else { continue };
        if !storages.contains_key(&tensor.key) {
            let bytes = read_entry(&mut archive, &format!("{prefix}data/{}", tensor.key))?;
            storages.insert(tensor.key.clone(), bytes);
        }
        let bytes = &storages[&tensor.key];
        let element = tensor.kind.elt_size_in_bytes() as i64;
        let numel = bytes.len() as i64 / element;
        let storage = Tensor::f_from_data_size(bytes, &[numel], tensor.kind)
            .map_err(|source| StateDictError::Tensor { name: name.clone(), source })?;
        let view = storage
            .f_as_strided(&tensor.size, &tensor.stride, tensor.offset)
            .map_err(|source| StateDictError::ShortStorage { name: name.clone(), source })?;
        named.push((name, view.contiguous()));
    }
    Ok(named)
}

fn read_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>, StateDictError> {
    let missing = |source| StateDictError::MissingEntry { name: name.to_owned(), source };
    let mut entry = archive.by_name(name).map_err(missing)?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|source| StateDictError::Unreadable { name: name.to_owned(), source })?;
    Ok(bytes)
}

fn describe(value: &Py) -> String {
    match value {
        Py::Other(what) => format!("a `{what}`"),
        Py::Tensor(_) => "a single tensor".into(),
        Py::List(_) => "a list".into(),
        Py::Tuple(_) => "a tuple".into(),
        other => format!("{other:?}"),
    }
}

/// The pickle virtual machine, for the opcodes of protocols 2 to 4 that a dict of tensors uses.
#[derive(Default)]
struct Machine {
    stack: Vec<Py>,
    marks: Vec<usize>,
    memo: HashMap<u32, Py>,
}

/// The pickle's bytes and where reading stands.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let slice = self.bytes.get(self.at..self.at + n).ok_or("the pickle ends early")?;
        self.at += n;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")))
    }

    fn text(&mut self, n: usize) -> Result<String, PickleError> {
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let end = self.bytes[self.at..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle ends early")?;
        let text = self.text(end)?;
        self.at += 1;
        Ok(text)
    }
}

impl Machine {
    fn run(mut self, bytes: &[u8]) -> Result<Py, PickleError> {
        let mut reader = Reader { bytes, at: 0 };
        loop {
            let op = reader.byte()?;
            if op == b'.' {
                return self.pop();
            }
            if !self.literal(op, &mut reader)? && !self.memo_op(op, &mut reader)? {
                self.structure(op)?;
            }
        }
    }

    /// Framing, constants, numbers, strings and globals; false for any other opcode.
    fn literal(&mut self, op: u8, reader: &mut Reader<'_>) -> Result<bool, PickleError> {
        let value = match op {
            0x80 => {
                reader.take(1)?;
                return Ok(true);
            }
            0x95 => {
                reader.take(8)?;
                return Ok(true);
            }
            b'}' => Py::Dict(Vec::new()),
            b']' => Py::List(Vec::new()),
            b')' => Py::Tuple(Vec::new()),
            b'N' | 0x88 | 0x89 => Py::Scalar,
            b'G' => {
                reader.take(8)?;
                Py::Scalar
            }
            b'K' => Py::Int(i64::from(reader.byte()?)),
            b'M' => {
                let v = reader.take(2)?;
                Py::Int(i64::from(u16::from_le_bytes([v[0], v[1]])))
            }
            b'J' => Py::Int(i64::from(reader.u32()?.cast_signed())),
            0x8a => {
                let n = usize::from(reader.byte()?);
                if n > 8 {
                    return Err(PickleError::from("a number too large for a tensor's shape"));
                }
                let v = reader.take(n)?;
                let fill = if v.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
                let mut buffer = [fill; 8];
                buffer[..n].copy_from_slice(v);
                Py::Int(i64::from_le_bytes(buffer))
            }
            b'X' => {
                let n = reader.u32()? as usize;
                Py::Str(reader.text(n)?)
            }
            0x8c => {
                let n = usize::from(reader.byte()?);
                Py::Str(reader.text(n)?)
            }
            b'c' => {
                let module = reader.line()?;
                Py::Global(module, reader.line()?)
            }
            0x93 => {
                let name = self.pop()?;
                match (self.pop()?, name) {
                    (Py::Str(module), Py::Str(name)) => Py::Global(module, name),
                    _ => return Err(PickleError::from("a malformed global in the pickle")),
                }
            }
            _ => return Ok(false),
        };
        self.stack.push(value);
        Ok(true)
    }

    /// Storing and fetching the memo; false for any other opcode.
    fn memo_op(&mut self, op: u8, reader: &mut Reader<'_>) -> Result<bool, PickleError> {
        match op {
            b'q' => {
                let key = u32::from(reader.byte()?);
                self.memo.insert(key, self.top()?.clone());
            }
            b'r' => {
                let key = reader.u32()?;
                self.memo.insert(key, self.top()?.clone());
            }
            0x94 => {
                let key = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                self.memo.insert(key, self.top()?.clone());
            }
            b'h' => {
                let key = u32::from(reader.byte()?);
                self.push_memo(key)?;
            }
            b'j' => {
                let key = reader.u32()?;
                self.push_memo(key)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Marks, tuples, calls and filling dicts and lists.
    fn structure(&mut self, op: u8) -> Result<(), PickleError> {
        match op {
            b'(' => self.marks.push(self.stack.len()),
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Py::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let from = self.stack.len().checked_sub(n).ok_or("the pickle's stack is short")?;
                let items = self.stack.split_off(from);
                self.stack.push(Py::Tuple(items));
            }
            b'Q' => {
                let id = self.pop()?;
                self.stack.push(Py::Persistent(Box::new(id)));
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.stack.push(reduce(callable, args)?);
            }
            // An object's state (an OrderedDict's `_metadata`): not needed.
            b'b' => {
                self.pop()?;
            }
            b'u' | b's' => {
                let items = if op == b'u' {
                    self.pop_mark()?
                } else {
                    let value = self.pop()?;
                    vec![self.pop()?, value]
                };
                let Some(Py::Dict(dict)) = self.stack.last_mut() else {
                    return Err(PickleError::from("items set on something that is not a dict"));
                };
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    dict.push((k, v));
                }
            }
            b'e' | b'a' => {
                let items = if op == b'e' { self.pop_mark()? } else { vec![self.pop()?] };
                if let Some(Py::List(list)) = self.stack.last_mut() {
                    list.extend(items);
                }
            }
            other => {
                return Err(format!(
                    "the pickle uses opcode 0x{other:02x}, which a state dict does not; save \
                     `model.state_dict()` with torch.save"
                )
                .into());
            }
        }
        Ok(())
    }

    fn pop(&mut self) -> Result<Py, PickleError> {
        self.stack.pop().ok_or_else(|| "the pickle's stack is empty".into())
    }

    fn top(&self) -> Result<&Py, PickleError> {
        self.stack.last().ok_or_else(|| "the pickle's stack is empty".into())
    }

    fn pop_mark(&mut self) -> Result<Vec<Py>, PickleError> {
        let mark = self.marks.pop().ok_or("the pickle has no mark")?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn push_memo(&mut self, key: u32) -> Result<(), PickleError> {
        let value = self.memo.get(&key).ok_or("the pickle refers to a value it never stored")?;
        self.stack.push(value.clone());
        Ok(())
    }
}

/// A callable applied to its arguments: an (ordered) dict, a tensor rebuilt from its storage,
/// or anything else kept by name.
fn reduce(callable: Py, args: Py) -> Result<Py, PickleError> {
    let Py::Global(module, name) = callable else {
        return Ok(Py::Other("call".into()));
    };
    let args = match args {
        Py::Tuple(args) => args,
        other => vec![other],
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Py::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
            let Some(Py::Persistent(id)) = args.first() else {
                return Err(PickleError::from("a tensor without its storage"));
            };
            let Py::Tuple(id) = id.as_ref() else {
                return Err(PickleError::from("a malformed storage id"));
            };
            let (Some(Py::Global(_, class)), Some(Py::Str(key))) = (id.get(1), id.get(2)) else {
                return Err(PickleError::from("a malformed storage id"));
            };
            let kind = match class.as_str() {
                "FloatStorage" => Kind::Float,
                "DoubleStorage" => Kind::Double,
                "HalfStorage" => Kind::Half,
                "BFloat16Storage" => Kind::BFloat16,
                "LongStorage" => Kind::Int64,
                "IntStorage" => Kind::Int,
                "BoolStorage" => Kind::Bool,
                "ByteStorage" => Kind::Uint8,
                other => {
                    return Err(format!("a storage of type `{other}`, which is not read").into());
                }
            };
            let ints = |value: Option<&Py>| -> Vec<i64> {
                match value {
                    Some(Py::Tuple(items)) => items
                        .iter()
                        .filter_map(|v| if let Py::Int(i) = v { Some(*i) } else { None })
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let offset = if let Some(Py::Int(offset)) = args.get(1) { *offset } else { 0 };
            Ok(Py::Tensor(TensorRef {
                key: key.clone(),
                kind,
                offset,
                size: ints(args.get(2)),
                stride: ints(args.get(3)),
            }))
        }
        _ => Ok(Py::Other(format!("{module}.{name}"))),
    }
}

#[cfg(test)]
mod tests {
    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/torchscript");

    #[test]
    fn a_state_dict_saved_by_pytorch_reads_as_the_same_tensors_saved_as_safetensors() {
        // `model.state_dict()` (an OrderedDict with `_metadata`) at step 20, and the same
        // tensors written by safetensors: the two readers must agree bit for bit.
        let named = super::read(&format!("{FIXTURE}/state_dicts/ckpt_20.pt")).unwrap();
        let reference =
            tch::Tensor::read_safetensors(format!("{FIXTURE}/runs/ckpt_20.safetensors")).unwrap();
        let order: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            order,
            ["encoder.linear.weight", "encoder.linear.bias", "head.weight", "head.bias"]
        );
        for (name, tensor) in &named {
            let (_, expected) = reference.iter().find(|(n, _)| n == name).unwrap();
            assert_eq!(tensor.size(), expected.size(), "{name}");
            assert!(tensor.equal(expected), "{name} differs");
        }
        // A plain dict of tensors reads too; a file that is not a zip archive does not.
        assert_eq!(super::read(&format!("{FIXTURE}/runs/ckpt_30.pt")).unwrap().len(), 4);
        let error = super::read(&format!("{FIXTURE}/data.safetensors")).unwrap_err();
        assert!(matches!(error, super::StateDictError::NotAnArchive(_)), "{error:?}");
        assert!(error.to_string().contains("not a PyTorch zip archive"), "{error}");
    }
}
