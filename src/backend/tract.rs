//! The pure-Rust tract backend: every network is compiled once per batch size it is run at (plans are cached),
//! and a batch is split into sub-batches run in parallel on a persistent pool, since tract's cost per sample
//! grows with the batch size (see `dinof bench`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use tract_onnx::pb::{tensor_proto::DataType, type_proto::Value, ModelProto, ValueInfoProto};
use tract_onnx::prelude::*;

use super::{
    check_signature, resolve_threads, worker_pool, Backend, BackendInfo, DType, Input, LoadOptions, NetSpec, Network,
    Signature, TensorInfo,
};
use crate::error::{Error, Result};

/// Sub-batch size used when the caller does not choose one. One image per network call is what keeps an image
/// bit-identical whatever the caller's batch size: tract's convolutions round differently at other batch sizes
/// (measured on the shipped model). Speed comes from running those calls on all cores; `dinof bench` shows the
/// per-image cost of larger sub-batches, which a caller may opt into at the price of bitwise reproducibility
/// across batch sizes.
pub const DEFAULT_SUB_BATCH: usize = 1;

pub struct TractBackend {
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
    sub_batch: usize,
}

impl TractBackend {
    pub fn new(opts: &LoadOptions) -> Result<Self> {
        let threads = resolve_threads(opts.threads);
        let sub_batch = if opts.sub_batch > 0 { opts.sub_batch } else { DEFAULT_SUB_BATCH };
        Ok(TractBackend { pool: worker_pool(threads, "dinof-tract")?, threads, sub_batch })
    }
}

impl Backend for TractBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "tract",
            execution_providers: vec!["cpu".into()],
            fell_back: false,
            threads: self.threads,
            sub_batch: self.sub_batch,
        }
    }

    fn load_bytes(&self, path: &Path, bytes: &[u8], spec: &NetSpec) -> Result<Box<dyn Network>> {
        let invalid = |msg: String| Error::InvalidOnnx { path: path.to_path_buf(), msg };
        let proto: ModelProto = tract_onnx::onnx()
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| invalid(format!("cannot parse ONNX protobuf: {e}")))?;
        let graph = proto.graph.as_ref().ok_or_else(|| invalid("the file holds no graph".into()))?;
        let sig = signature_of(graph);
        check_signature(&sig, spec)?;

        // Compile with a symbolic batch; concrete plans are derived per batch size on first use.
        let mut model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_proto_model(&proto)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let batch = model.symbols.sym("B");
        // Feed inputs in the file's order; the spec may list them in another.
        let mut order = Vec::with_capacity(spec.inputs.len());
        for (ix, info) in sig.inputs.iter().enumerate() {
            let k = spec.inputs.iter().position(|(n, _, _)| n == &info.name).expect("checked by check_signature");
            let (_, dtype, dims) = &spec.inputs[k];
            let shape: TVec<TDim> = std::iter::once(batch.to_dim()).chain(dims.iter().map(|&d| d.to_dim())).collect();
            let fact = match dtype {
                DType::I64 => InferenceFact::dt_shape(i64::datum_type(), shape),
                _ => InferenceFact::dt_shape(f32::datum_type(), shape),
            };
            model.set_input_fact(ix, fact).map_err(|e| invalid(format!("{e:#}")))?;
            order.push(k);
        }
        // Select the contract's outputs by name, in spec order.
        let outlets: Vec<OutletId> = spec
            .outputs
            .iter()
            .map(|(name, _)| {
                model.find_outlet_label(name).ok_or_else(|| invalid(format!("output '{name}' not found in the graph")))
            })
            .collect::<Result<_>>()?;
        model.select_output_outlets(&outlets).map_err(|e| invalid(format!("{e:#}")))?;
        let typed = model.into_typed().and_then(|m| m.into_decluttered()).map_err(|e| Error::NetworkMismatch {
            network: spec.role.clone(),
            msg: format!("tract cannot analyse the graph: {e:#}"),
        })?;
        let net = TractNetwork {
            spec: spec.clone(),
            path: path.display().to_string(),
            typed,
            batch,
            order,
            plans: Mutex::new(HashMap::new()),
            pool: self.pool.clone(),
            sub_batch: self.sub_batch,
        };
        // Compile the common plan now so that load errors surface at load time, not mid-sampling.
        net.plan(self.sub_batch)?;
        Ok(Box::new(net))
    }
}

fn signature_of(graph: &tract_onnx::pb::GraphProto) -> Signature {
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let info = |v: &ValueInfoProto| {
        let (dtype, shape) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(Value::TensorType(t)) => {
                let dtype = match DataType::try_from(t.elem_type) {
                    Ok(DataType::Float) => DType::F32,
                    Ok(DataType::Int64) => DType::I64,
                    Ok(other) => DType::Other(format!("{other:?}")),
                    Err(_) => DType::Other(format!("onnx type {}", t.elem_type)),
                };
                let shape = t.shape.as_ref().map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => {
                                Some(*v as usize)
                            }
                            _ => None,
                        })
                        .collect()
                });
                (dtype, shape)
            }
            _ => (DType::Other("not a tensor".into()), None),
        };
        TensorInfo { name: v.name.clone(), dtype, shape }
    };
    Signature {
        // Old exporters list initializers among the inputs; they are not inputs of the contract.
        inputs: graph.input.iter().filter(|v| !initializers.contains(v.name.as_str())).map(info).collect(),
        outputs: graph.output.iter().map(info).collect(),
    }
}

type Plan = Arc<TypedSimplePlan>;

struct TractNetwork {
    spec: NetSpec,
    path: String,
    typed: TypedModel,
    batch: Symbol,
    /// order[i] = index in `spec.inputs` of the file's i-th input.
    order: Vec<usize>,
    plans: Mutex<HashMap<usize, Plan>>,
    pool: Arc<rayon::ThreadPool>,
    sub_batch: usize,
}

impl TractNetwork {
    fn plan(&self, batch: usize) -> Result<Plan> {
        if let Some(p) = self.plans.lock().unwrap_or_else(|e| e.into_inner()).get(&batch) {
            return Ok(p.clone());
        }
        let subs = HashMap::from([(self.batch.clone(), (batch as i64).to_dim())]);
        let plan =
            self.typed.set_symbols(&subs).and_then(|m| m.into_optimized()).and_then(|m| m.into_runnable()).map_err(
                |e| Error::InvalidOnnx {
                    path: self.path.clone().into(),
                    msg: format!("cannot compile for batch {batch}: {e:#}"),
                },
            )?;
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).insert(batch, plan.clone());
        Ok(plan)
    }

    /// Runs samples [start, start + n) of the batch.
    fn run_chunk(&self, start: usize, n: usize, inputs: &[Input<'_>], per_in: &[usize]) -> Result<Vec<Tensor>> {
        let plan = self.plan(n)?;
        let mut values: TVec<TValue> = TVec::new();
        for &k in &self.order {
            let (_, _, dims) = &self.spec.inputs[k];
            let shape: Vec<usize> = std::iter::once(n).chain(dims.iter().copied()).collect();
            let (a, b) = (start * per_in[k], (start + n) * per_in[k]);
            let t = match inputs[k] {
                Input::F32(v) => Tensor::from_shape(&shape, &v[a..b]),
                Input::I64(v) => Tensor::from_shape(&shape, &v[a..b]),
            }
            .map_err(|e| self.fail(e))?;
            values.push(t.into_tvalue());
        }
        let outs = plan.run(values).map_err(|e| self.fail(e))?;
        Ok(outs.into_iter().map(|v| v.into_tensor()).collect())
    }

    /// `run_chunk`, with a panic inside tract (a graph that loads but indexes out of bounds on real inputs, found by
    /// tests/fuzz_loader.rs) turned into a backend error instead of unwinding through the caller.
    fn run_chunk_guarded(&self, start: usize, n: usize, inputs: &[Input<'_>], per_in: &[usize]) -> Result<Vec<Tensor>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_chunk(start, n, inputs, per_in)))
            .unwrap_or_else(|payload| {
                Err(self.fail(format!("tract panicked: {}", crate::error::panic_message(&*payload))))
            })
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::Backend { backend: "tract", msg: format!("{}: {e:#}", self.spec.role) }
    }
}

impl Network for TractNetwork {
    fn spec(&self) -> &NetSpec {
        &self.spec
    }

    fn run(&self, batch: usize, inputs: &[Input<'_>], outputs: &mut [&mut [f32]]) -> Result<()> {
        let per_in: Vec<usize> = self.spec.inputs.iter().map(|(_, _, d)| d.iter().product()).collect();
        let per_out: Vec<usize> = (0..self.spec.outputs.len()).map(|i| self.spec.output_len(i)).collect();
        if inputs.len() != per_in.len() || outputs.len() != per_out.len() {
            return Err(Error::Internal(format!("{}: wrong number of inputs or outputs", self.spec.role)));
        }
        for (i, inp) in inputs.iter().enumerate() {
            if inp.len() != batch * per_in[i] {
                return Err(Error::Internal(format!(
                    "{}: input {i} has {} values, expected {}",
                    self.spec.role,
                    inp.len(),
                    batch * per_in[i]
                )));
            }
        }
        for (i, out) in outputs.iter().enumerate() {
            if out.len() != batch * per_out[i] {
                return Err(Error::Internal(format!(
                    "{}: output {i} has room for {}, expected {}",
                    self.spec.role,
                    out.len(),
                    batch * per_out[i]
                )));
            }
        }
        let chunks: Vec<(usize, usize)> =
            (0..batch).step_by(self.sub_batch).map(|s| (s, self.sub_batch.min(batch - s))).collect();
        let results: Vec<Result<Vec<Tensor>>> = if chunks.len() == 1 {
            vec![self.run_chunk_guarded(0, batch, inputs, &per_in)]
        } else {
            self.pool
                .install(|| chunks.par_iter().map(|&(s, n)| self.run_chunk_guarded(s, n, inputs, &per_in)).collect())
        };
        for ((s, n), res) in chunks.into_iter().zip(results) {
            let tensors = res?;
            for (i, t) in tensors.iter().enumerate() {
                let view = t.try_as_plain_ram().map_err(|e| self.fail(e))?;
                let src = view.as_slice::<f32>().map_err(|e| self.fail(e))?;
                if src.len() != n * per_out[i] {
                    return Err(Error::NetworkMismatch {
                        network: self.spec.role.clone(),
                        msg: format!(
                            "output '{}' has {} values for {n} samples, expected {}",
                            self.spec.outputs[i].0,
                            src.len(),
                            n * per_out[i]
                        ),
                    });
                }
                outputs[i][s * per_out[i]..(s + n) * per_out[i]].copy_from_slice(src);
            }
        }
        Ok(())
    }
}

/// One line about an ONNX file: its inputs and outputs (as declared) and its parameter count.
pub fn describe_onnx(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let proto: ModelProto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| Error::InvalidOnnx { path: path.to_path_buf(), msg: format!("{e}") })?;
    let graph =
        proto.graph.as_ref().ok_or_else(|| Error::InvalidOnnx { path: path.to_path_buf(), msg: "no graph".into() })?;
    let sig = signature_of(graph);
    let fmt = |v: &[TensorInfo]| {
        v.iter()
            .map(|t| {
                let dims = t.shape.as_ref().map_or("?".into(), |s| {
                    s.iter()
                        .enumerate()
                        .map(|(i, d)| d.map_or(if i == 0 { "B" } else { "?" }.to_string(), |v| v.to_string()))
                        .collect::<Vec<_>>()
                        .join("×")
                });
                format!("{}:{:?}[{dims}]", t.name, t.dtype).replace("F32", "f32").replace("I64", "i64")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Saturating: the dims are the file's claim, and a hostile file's overflow the product.
    let params: i64 = graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().fold(1i64, |a, &d| a.saturating_mul(d)))
        .fold(0i64, |a, n| a.saturating_add(n));
    let opset = proto.opset_import.iter().find(|o| o.domain.is_empty()).map_or(0, |o| o.version);
    Ok(format!(
        "({}) -> ({}), {params} parameters, {} nodes, opset {opset}",
        fmt(&sig.inputs),
        fmt(&sig.outputs),
        graph.node.len()
    ))
}
