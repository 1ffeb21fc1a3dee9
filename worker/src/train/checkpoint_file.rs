//! Checkpoint files: one member's named tensors in the safetensors format (what
//! `safetensors.torch.load_file` reads), with the training step in the header's metadata. The
//! bytes are a function of the names, shapes and values alone (tensors in a fixed order, one
//! metadata entry), so equal parameters make equal files and equal store entries.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tch::{Kind, Tensor};

/// Encodes tensors (f32 or f64, any shape) as a safetensors file.
pub fn encode(named: &[(String, Tensor)], step: u64) -> Result<Vec<u8>, String> {
    let mut buffers = Vec::with_capacity(named.len());
    for (name, tensor) in named {
        let flat = tensor.detach().to_device(tch::Device::Cpu).contiguous().flatten(0, -1);
        let (dtype, bytes) = match tensor.kind() {
            Kind::Float => {
                let values = Vec::<f32>::try_from(&flat).map_err(|e| format!("{name}: {e}"))?;
                (Dtype::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
            }
            Kind::Double => {
                let values = Vec::<f64>::try_from(&flat).map_err(|e| format!("{name}: {e}"))?;
                (Dtype::F64, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
            }
            other => return Err(format!("{name}: cannot write tensors of kind {other:?}")),
        };
        let shape: Vec<usize> =
            tensor.size().iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
        buffers.push((name.clone(), dtype, shape, bytes));
    }
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| format!("{name}: {e:?}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    // safetensors 0.3 writes an empty tensor list with metadata as `{},"__metadata__":...}`,
    // which no reader accepts (its own included): an empty state (plain SGD's optimizer) is
    // written without the step, as `{}`, which every reader takes as no tensors.
    let metadata =
        (!views.is_empty()).then(|| HashMap::from([("step".to_owned(), step.to_string())]));
    safetensors::tensor::serialize(views, &metadata).map_err(|e| format!("{e:?}"))
}

/// Decodes a safetensors file into named tensors, sorted by name: floating-point (f16, bf16,
/// f32, f64), integer and boolean tensors, as a PyTorch state dict may hold them.
pub fn decode(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, String> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e:?}"))?;
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let view = file.tensor(&name).map_err(|e| format!("{name}: {e:?}"))?;
            let shape: Vec<i64> =
                view.shape().iter().map(|&d| i64::try_from(d).unwrap_or(0)).collect();
            // Safetensors is little-endian, as the machines libtorch runs on here are.
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::F64 => Kind::Double,
                Dtype::F16 => Kind::Half,
                Dtype::BF16 => Kind::BFloat16,
                Dtype::I64 => Kind::Int64,
                Dtype::I32 => Kind::Int,
                Dtype::I16 => Kind::Int16,
                Dtype::I8 => Kind::Int8,
                Dtype::U8 => Kind::Uint8,
                Dtype::BOOL => Kind::Bool,
                other => {
                    return Err(format!("{name}: tensors of type {other:?} are not supported"));
                }
            };
            let tensor = Tensor::f_from_data_size(view.data(), &shape, kind)
                .map_err(|err| format!("{name}: {err}"))?;
            Ok((name, tensor))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_shapes_and_values_round_trip_and_equal_tensors_give_equal_bytes() {
        let named = vec![
            (
                "layers.0.weight".to_owned(),
                Tensor::from_slice(&[1.5f32, -2.0, 0.25, 8.0, 0.0, 3.0]).reshape([2, 3]),
            ),
            ("W".to_owned(), Tensor::from_slice(&[0.1f64, 0.2])),
        ];
        let bytes = encode(&named, 1200).unwrap();
        assert_eq!(bytes, encode(&named, 1200).unwrap());
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        for (name, tensor) in &named {
            let (_, read) = back.iter().find(|(n, _)| n == name).unwrap();
            assert_eq!(read.size(), tensor.size(), "{name}");
            assert_eq!(read.kind(), tensor.kind(), "{name}");
            assert!(read.equal(tensor), "{name}");
        }
        let header = SafeTensors::read_metadata(&bytes).unwrap().1;
        assert_eq!(header.metadata().as_ref().unwrap()["step"], "1200");
    }

    /// Plain SGD has no optimizer state: its file must still read back (it did not, and every
    /// resume point of an SGD run was unreadable, so a stopped run started over).
    #[test]
    fn an_empty_state_is_a_readable_file() {
        let bytes = encode(&[], 1200).unwrap();
        assert!(decode(&bytes).unwrap().is_empty());
        let header_length =
            usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&bytes[8..8 + header_length]).unwrap();
        assert_eq!(header, serde_json::json!({}));
    }
}
