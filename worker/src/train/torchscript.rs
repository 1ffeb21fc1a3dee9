//! The user's own architecture, saved with `torch.jit.save` and loaded through libtorch's
//! TorchScript runtime. Its parameters keep the names PyTorch gives them (`encoder.linear.weight`)
//! and are trained, checkpointed and sampled like a built-in model's.
//!
//! A scripted module holds its own parameter tensors, and a forward pass reads those: it cannot
//! take a group's `[members, ...]` parameters at once. So each member is run in turn: its values
//! are copied into the module's parameters, and its gradients are read from them after a
//! backward pass. Ensembles and sampler chains work, one member after another.

use std::sync::{Arc, Mutex, MutexGuard};

use tch::{CModule, Device, Kind, Tensor};

use super::spec::SpecError;

#[derive(Clone)]
pub struct TorchScript {
    pub path: String,
    /// The parameters' names and shapes, in the module's order.
    pub params: Vec<(String, Vec<i64>)>,
    module: Arc<Mutex<Loaded>>,
}

struct Loaded {
    module: CModule,
    /// The module's parameter tensors (aliases of its own, so writing them changes the module).
    params: Vec<Tensor>,
    kind: Kind,
    device: Device,
}

/// One file is one model: members of a group that load the same path share it.
impl PartialEq for TorchScript {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl std::fmt::Debug for TorchScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "torchscript.model({})", self.path)
    }
}

impl TorchScript {
    pub fn load(path: &str) -> Result<TorchScript, SpecError> {
        let fail = |what: String| SpecError(format!("{path}: {what}"));
        let module = CModule::load(path).map_err(|e| {
            fail(format!(
                "not a TorchScript module ({}); save the model with \
                 `torch.jit.save(torch.jit.script(model), path)`",
                first_line(&e.to_string())
            ))
        })?;
        let named = module.named_parameters().map_err(|e| fail(first_line(&e.to_string())))?;
        if named.is_empty() {
            return Err(fail("the module has no parameters to train".into()));
        }
        let params = named.iter().map(|(name, t)| (name.clone(), t.size())).collect();
        let tensors = named.into_iter().map(|(_, t)| t.set_requires_grad(true)).collect();
        Ok(TorchScript {
            path: path.to_owned(),
            params,
            module: Arc::new(Mutex::new(Loaded {
                module,
                params: tensors,
                kind: Kind::Float,
                device: Device::Cpu,
            })),
        })
    }

    /// The parameters as saved in the file (every member starts there), `[members, ...]`.
    pub fn initial(&self, members: i64, kind: Kind) -> Vec<Tensor> {
        let loaded = self.lock();
        loaded
            .params
            .iter()
            .map(|p| {
                let row = p.detach().to_kind(kind).unsqueeze(0);
                let mut dims = vec![members];
                dims.extend(std::iter::repeat_n(1, p.dim()));
                row.repeat(&dims)
            })
            .collect()
    }

    /// Data that this module cannot read, or whose targets it cannot give, is refused before
    /// training (`what`: the field and its file), with the module's own words.
    pub fn check_data(
        &self,
        input_dim: usize,
        classes: Option<usize>,
        output_dim: usize,
        what: &str,
    ) -> Result<(), SpecError> {
        let outputs = usize::try_from(self.check_input(input_dim)?).unwrap_or(0);
        let (needed, fits, each) = match classes {
            Some(classes) => (classes, outputs >= classes, " (one per class)"),
            None => (output_dim, outputs == output_dim, ""),
        };
        if fits {
            return Ok(());
        }
        Err(SpecError(format!(
            "{what} needs {needed} outputs per sample{each}, but the module `{}` gives {outputs}",
            self.path
        )))
    }

    /// Runs the module on one input and returns its outputs per sample.
    fn check_input(&self, input_dim: usize) -> Result<i64, SpecError> {
        let mut loaded = self.lock();
        loaded.prepare(Kind::Float, Device::Cpu);
        let probe = Tensor::zeros([1, input_dim as i64], (Kind::Float, Device::Cpu));
        let out = tch::no_grad(|| loaded.module.forward_ts(&[probe])).map_err(|e| {
            SpecError(format!(
                "{}: the module cannot take inputs of {input_dim} numbers per sample: {}",
                self.path,
                first_line(&e.to_string())
            ))
        })?;
        match out.size().as_slice() {
            [1, outputs] => Ok(*outputs),
            other => Err(SpecError(format!(
                "{}: the module's output for a batch of one has shape {other:?}; devspec needs \
                 [batch, outputs]",
                self.path
            ))),
        }
    }

    /// The outputs `[members, batch, out]` of each member's parameters on its inputs.
    pub fn forward(&self, params: &[Tensor], x: &Tensor) -> Tensor {
        let mut loaded = self.lock();
        loaded.prepare(x.kind(), x.device());
        let members = x.size()[0];
        let outs: Vec<Tensor> = (0..members)
            .map(|member| {
                loaded.set(params, member);
                loaded.run(&x.get(member))
            })
            .collect();
        Tensor::stack(&outs, 0)
    }

    /// Each member's loss `[members]` and gradients (`[members, ...]`, in the parameters'
    /// order), one member at a time.
    pub fn loss_and_gradients(
        &self,
        loss: super::loss::Loss,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
        kind: Kind,
    ) -> (Tensor, Vec<Tensor>) {
        let mut loaded = self.lock();
        loaded.prepare(x.kind(), x.device());
        let members = x.size()[0];
        let mut losses = Vec::new();
        let mut grads: Vec<Vec<Tensor>> = params.iter().map(|_| Vec::new()).collect();
        for member in 0..members {
            loaded.set(params, member);
            let out = loaded.run(&x.get(member)).unsqueeze(0);
            let value = loss.per_member(&out, &y.get(member).unsqueeze(0), kind);
            value.sum(kind).backward();
            for (slot, param) in grads.iter_mut().zip(&loaded.params) {
                let mut grad = param.grad();
                slot.push(if grad.defined() { grad.copy() } else { param.zeros_like() });
                if grad.defined() {
                    let _ = grad.zero_();
                }
            }
            losses.push(value.detach());
        }
        (Tensor::cat(&losses, 0), grads.iter().map(|g| Tensor::stack(g, 0)).collect())
    }

    fn lock(&self) -> MutexGuard<'_, Loaded> {
        // A panic while the module was held leaves its parameters mid-copy, which the next
        // member overwrites anyway.
        self.module.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Loaded {
    /// Moves the module to where and in what precision the step computes.
    fn prepare(&mut self, kind: Kind, device: Device) {
        if (kind, device) != (self.kind, self.device) {
            self.module.to(device, kind, false);
            let named = self.module.named_parameters().unwrap_or_default();
            self.params = named.into_iter().map(|(_, t)| t.set_requires_grad(true)).collect();
            (self.kind, self.device) = (kind, device);
        }
    }

    /// Writes member `member`'s values into the module's parameters.
    fn set(&mut self, params: &[Tensor], member: i64) {
        tch::no_grad(|| {
            for (target, source) in self.params.iter_mut().zip(params) {
                target.copy_(&source.get(member));
            }
        });
    }

    /// The module on one member's inputs `[batch, in]`. The input was checked before training
    /// (`check_input`), so a failure here is libtorch's own fault.
    fn run(&self, x: &Tensor) -> Tensor {
        match self.module.forward_ts(&[x]) {
            Ok(out) => out,
            Err(e) => panic!("{}", first_line(&e.to_string())),
        }
    }
}

/// libtorch's messages carry a C++ backtrace after the first line; a user needs the first.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}
