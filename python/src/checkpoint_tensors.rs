//! A checkpoint's tensors from its safetensors bytes (already checked against their digest by
//! the store): each tensor's name, numpy type, shape and bytes, which Python turns into numpy
//! arrays or torch tensors without converting a value.
//!
//! Parsed here by the `safetensors` crate rather than by the Python package: the module then
//! needs nothing but numpy to read a checkpoint, and the bytes it parses are the ones the store
//! verified, not a second read of the file.

use safetensors::SafeTensors;
use safetensors::tensor::Dtype;

/// One tensor: name, element type as numpy writes it (`<f4`; `bf16` has no numpy type),
/// shape, and its bytes as stored (little-endian).
pub struct StoredTensor {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// Every tensor of a safetensors file, by name.
pub fn parse(bytes: &[u8]) -> Result<Vec<StoredTensor>, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("{e:?}"))?;
    let mut tensors: Vec<StoredTensor> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            Ok(StoredTensor {
                dtype: numpy_type(view.dtype())?,
                shape: view.shape().to_vec(),
                bytes: view.data().to_vec(),
                name,
            })
        })
        .collect::<Result<_, String>>()?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// The numpy type string of a safetensors element type (safetensors stores little-endian).
fn numpy_type(dtype: Dtype) -> Result<&'static str, String> {
    Ok(match dtype {
        Dtype::BOOL => "?",
        Dtype::U8 => "u1",
        Dtype::I8 => "i1",
        Dtype::I16 => "<i2",
        Dtype::U16 => "<u2",
        Dtype::F16 => "<f2",
        Dtype::BF16 => "bf16",
        Dtype::I32 => "<i4",
        Dtype::U32 => "<u4",
        Dtype::F32 => "<f4",
        Dtype::F64 => "<f8",
        Dtype::I64 => "<i8",
        Dtype::U64 => "<u8",
        // The crate's enum is non-exhaustive: a type added later is said, not guessed.
        other => return Err(format!("a tensor of type {other:?}, which this module cannot read")),
    })
}
