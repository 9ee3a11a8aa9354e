//! The ONNX Runtime backend (feature `ort`). libonnxruntime is opened at run time: we find it and check it ourselves
//! before ort sees it, because ort panics on a missing or too-old library. One session per network is created at
//! load time; a run reads the caller's inputs and writes the caller's outputs in place.
//!
//! Reproducibility on the CPU provider holds by construction, as on tract: by default every session run computes
//! one image on one thread (intra-op threads = 1), and the images of a batch are spread over a worker pool. An
//! image's arithmetic is then the same whatever the batch size, chunking or thread count, for any ONNX Runtime
//! version's kernels on any CPU: no result rests on how a multi-threaded or batched kernel splits its sums.

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::sync::{Arc, Mutex};

use ::ort::ep::{self, ExecutionProviderDispatch};
use ::ort::session::builder::GraphOptimizationLevel;
use ::ort::session::Session;
use ::ort::value::{DynValueRef, TensorElementType, TensorRef, TensorRefMut, ValueType};
use ::ort::AsPointer;
use rayon::prelude::*;

use super::{
    check_signature, resolve_threads, worker_pool, Backend, BackendInfo, DType, ExecutionProvider, Input, LoadOptions,
    NetSpec, Network, OrtOptions, Signature, TensorInfo,
};
use crate::error::{Error, Result};

mod library;
use library::{locate, runtime, Runtime};

/// TensorRT compiles an engine for a range of batch sizes (an optimisation profile); larger batches are split.
/// 256 is the sampler's largest default lockstep batch.
const TRT_MAX_BATCH: usize = 256;
/// The batch TensorRT tunes its kernels for: the CLI's default number of images.
const TRT_OPT_BATCH: usize = 64;

/// Samples per session run on the CPU provider unless the caller chooses: one image per run, on one thread, is
/// what makes an image independent of the batch it is computed in (see the module comment).
pub const DEFAULT_CPU_SUB_BATCH: usize = 1;

pub struct OrtBackend {
    runtime: Arc<Runtime>,
    opts: OrtOptions,
    threads: usize,
    /// Samples per session run as the caller asked; 0 = the provider's default (`DEFAULT_CPU_SUB_BATCH` on the CPU,
    /// the whole batch on CUDA/TensorRT).
    sub_batch: usize,
    /// Runs the CPU sessions' single-threaded runs side by side.
    pool: Arc<rayon::ThreadPool>,
    providers: Mutex<Providers>,
}

/// What actually runs, updated when a network falls back to the CPU.
struct Providers {
    names: Vec<String>,
    fell_back: bool,
}

impl OrtBackend {
    pub fn new(opts: &LoadOptions) -> Result<Self> {
        let path = locate(&opts.ort)?;
        let runtime = runtime(&path)?;
        let names = match opts.ort.execution_provider {
            ExecutionProvider::Cpu => vec!["cpu"],
            ExecutionProvider::Cuda => vec!["cuda", "cpu"],
            // TensorRT leaves the subgraphs it cannot compile to CUDA, and CUDA leaves the rest to the CPU.
            ExecutionProvider::TensorRt => vec!["tensorrt", "cuda", "cpu"],
        };
        let threads = resolve_threads(opts.threads);
        Ok(OrtBackend {
            runtime,
            opts: opts.ort.clone(),
            threads,
            sub_batch: opts.sub_batch,
            pool: worker_pool(threads, "dinof-ort")?,
            providers: Mutex::new(Providers { names: names.into_iter().map(String::from).collect(), fell_back: false }),
        })
    }

    /// The ONNX Runtime release in use, e.g. "1.19.2".
    pub fn runtime_version(&self) -> &str {
        &self.runtime.version
    }

    /// A session on the given providers; none = the CPU, where every run is single-threaded (the pool supplies
    /// the parallelism). On CUDA/TensorRT the intra-op threads serve the operators left to the CPU.
    fn session(&self, bytes: &[u8], providers: Vec<ExecutionProviderDispatch>) -> std::result::Result<Session, String> {
        let intra_threads = if providers.is_empty() { self.opts.intra_op_threads.max(1) } else { self.threads };
        guarded("creating a session", || {
            let builder = Session::builder(&self.runtime.env)
                .map_err(|e| e.to_string())?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| e.to_string())?
                .with_intra_threads(intra_threads)
                .map_err(|e| e.to_string())?;
            let mut builder = if providers.is_empty() {
                builder
            } else {
                builder.with_execution_providers(providers).map_err(|e| e.to_string())?
            };
            builder.commit_from_memory(bytes).map_err(|e| e.to_string())
        })
    }

    /// The requested execution providers, each made to fail loudly: ort's default is to skip one that cannot be
    /// registered and quietly run on the CPU.
    fn providers_for(&self, spec: &NetSpec) -> Result<Vec<ExecutionProviderDispatch>> {
        let o = &self.opts;
        let cuda = || ep::CUDA::default().with_device_id(o.device_id).build().error_on_failure();
        Ok(match o.execution_provider {
            ExecutionProvider::Cpu => Vec::new(),
            ExecutionProvider::Cuda => vec![cuda()],
            ExecutionProvider::TensorRt => {
                let mut trt = ep::TensorRT::default()
                    .with_device_id(o.device_id)
                    .with_fp16(o.trt_fp16)
                    .with_profile_min_shapes(trt_profile(spec, 1))
                    .with_profile_opt_shapes(trt_profile(spec, TRT_OPT_BATCH))
                    .with_profile_max_shapes(trt_profile(spec, TRT_MAX_BATCH));
                if let Some(dir) = &o.trt_engine_cache_dir {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                    let dir = dir.display().to_string();
                    trt = trt
                        .with_engine_cache(true)
                        .with_engine_cache_path(&dir)
                        .with_timing_cache(true)
                        .with_timing_cache_path(&dir);
                }
                if o.trt_workspace_bytes > 0 {
                    trt = trt.with_max_workspace_size(o.trt_workspace_bytes as usize);
                }
                vec![trt.build().error_on_failure(), cuda()]
            }
        })
    }

    /// Samples per session run on the CPU provider.
    fn cpu_sub_batch(&self) -> usize {
        if self.sub_batch > 0 {
            self.sub_batch
        } else {
            DEFAULT_CPU_SUB_BATCH
        }
    }

    fn ep_name(&self) -> &'static str {
        match self.opts.execution_provider {
            ExecutionProvider::Cpu => "CPU",
            ExecutionProvider::Cuda => "CUDA",
            ExecutionProvider::TensorRt => "TensorRT",
        }
    }
}

impl Backend for OrtBackend {
    fn info(&self) -> BackendInfo {
        let p = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        let on_cpu = p.names.len() == 1;
        let sub_batch = if on_cpu { self.cpu_sub_batch() } else { self.sub_batch };
        BackendInfo {
            name: "ort",
            execution_providers: p.names.clone(),
            fell_back: p.fell_back,
            threads: self.threads,
            sub_batch,
        }
    }

    fn load_bytes(&self, path: &Path, bytes: &[u8], spec: &NetSpec) -> Result<Box<dyn Network>> {
        let invalid = |msg: String| Error::InvalidOnnx { path: path.to_path_buf(), msg };
        let on_cpu = self.opts.execution_provider == ExecutionProvider::Cpu
            || self.providers.lock().unwrap_or_else(|e| e.into_inner()).fell_back;
        let (session, accelerated) = if on_cpu {
            (self.session(bytes, Vec::new()).map_err(invalid)?, false)
        } else {
            match self.session(bytes, self.providers_for(spec)?) {
                Ok(session) => (session, true),
                Err(ep_msg) => {
                    // A broken model fails on the CPU too; only a model that loads there blames the provider.
                    let cpu = self.session(bytes, Vec::new()).map_err(invalid)?;
                    check_signature(&signature_of(&cpu), spec)?;
                    if !self.opts.allow_fallback {
                        return Err(Error::ExecutionProviderUnavailable(format!(
                            "{} (device {}) cannot run {} with ONNX Runtime {}: {ep_msg}",
                            self.ep_name(),
                            self.opts.device_id,
                            spec.role,
                            self.runtime.version
                        )));
                    }
                    crate::log::log(
                        crate::log::Level::Warn,
                        &format!("{} unavailable for {}, running on the CPU: {ep_msg}", self.ep_name(), spec.role),
                    );
                    *self.providers.lock().unwrap_or_else(|e| e.into_inner()) =
                        Providers { names: vec!["cpu".into()], fell_back: true };
                    (cpu, false)
                }
            }
        };
        check_signature(&signature_of(&session), spec)?;

        let max_batch = match (accelerated, self.opts.execution_provider) {
            (false, _) => self.cpu_sub_batch(),
            (true, ExecutionProvider::TensorRt) if self.sub_batch > 0 => self.sub_batch.min(TRT_MAX_BATCH),
            (true, ExecutionProvider::TensorRt) => TRT_MAX_BATCH,
            (true, _) if self.sub_batch > 0 => self.sub_batch,
            (true, _) => usize::MAX,
        };
        let c_names = |names: Vec<&str>| {
            names
                .into_iter()
                .map(CString::new)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| invalid(e.to_string()))
        };
        let net = OrtNetwork {
            input_names: c_names(spec.inputs.iter().map(|i| i.0.as_str()).collect())?,
            output_names: c_names(spec.outputs.iter().map(|o| o.0.as_str()).collect())?,
            per_in: spec.inputs.iter().map(|(_, _, d)| d.iter().product()).collect(),
            per_out: (0..spec.outputs.len()).map(|i| spec.output_len(i)).collect(),
            max_batch,
            spec: spec.clone(),
            session,
            // ONNX Runtime's Run may be called concurrently on the CPU provider; GPU providers get one run at a time.
            exclusive: accelerated.then(|| Mutex::new(())),
            // Single-threaded CPU runs go side by side; multi-threaded ones would only fight over the cores.
            parallel: !accelerated && self.opts.intra_op_threads == 0,
            pool: self.pool.clone(),
        };
        Ok(Box::new(net))
    }
}

/// "x:Bx1x28x28,t:B" for a TensorRT optimisation profile at batch B.
fn trt_profile(spec: &NetSpec, batch: usize) -> String {
    spec.inputs
        .iter()
        .map(|(name, _, dims)| {
            let dims: Vec<String> = std::iter::once(batch).chain(dims.iter().copied()).map(|d| d.to_string()).collect();
            format!("{name}:{}", dims.join("x"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn signature_of(session: &Session) -> Signature {
    let info = |o: &::ort::value::Outlet| {
        let (dtype, shape) = match o.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                let dtype = match ty {
                    TensorElementType::Float32 => DType::F32,
                    TensorElementType::Int64 => DType::I64,
                    other => DType::Other(format!("{other:?}")),
                };
                // ONNX Runtime reports symbolic dimensions as -1.
                (dtype, Some(shape.iter().map(|&d| (d > 0).then_some(d as usize)).collect()))
            }
            other => (DType::Other(format!("{other:?}")), None),
        };
        TensorInfo { name: o.name().to_string(), dtype, shape }
    };
    Signature {
        inputs: session.inputs().iter().map(info).collect(),
        outputs: session.outputs().iter().map(info).collect(),
    }
}

struct OrtNetwork {
    spec: NetSpec,
    /// One session shared by every caller: ONNX Runtime documents Run as safe to call concurrently (the weights are
    /// held once); `exclusive` serialises runs where a provider is not known to allow it.
    session: Session,
    /// Held during runs on CUDA/TensorRT; `None` on the CPU provider.
    exclusive: Option<Mutex<()>>,
    /// The runs of one batch go side by side on `pool` (CPU provider, single-threaded runs).
    parallel: bool,
    pool: Arc<rayon::ThreadPool>,
    /// Contract names in spec order, as C strings once instead of per run.
    input_names: Vec<CString>,
    output_names: Vec<CString>,
    per_in: Vec<usize>,
    per_out: Vec<usize>,
    /// Largest batch per session run (the sub-batch, or TensorRT's profile maximum).
    max_batch: usize,
}

impl OrtNetwork {
    /// Runs samples [start, start + n) of the inputs into `outputs` (which hold exactly those n samples): tensors are
    /// views of the caller's buffers, and the outputs are passed to ONNX Runtime pre-allocated, so it writes the
    /// results in place (copying from the device for CUDA/TensorRT). Measured against ort's `run` plus a copy: as
    /// fast on the MNIST U-Net, 1 µs (≈12%) less per call on the small analytic networks. (ort's IoBinding would
    /// copy borrowed inputs, so it is not used.)
    fn run_chunk(
        &self,
        start: usize,
        n: usize,
        inputs: &[Input<'_>],
        outputs: &mut [&mut [f32]],
    ) -> std::result::Result<(), String> {
        let session = &self.session;
        let s = |e: ::ort::Error| e.to_string();
        let mut values: Vec<DynValueRef<'_>> = Vec::with_capacity(inputs.len());
        for (k, input) in inputs.iter().enumerate() {
            let shape: Vec<usize> = std::iter::once(n).chain(self.spec.inputs[k].2.iter().copied()).collect();
            let (a, b) = (start * self.per_in[k], (start + n) * self.per_in[k]);
            values.push(match input {
                Input::F32(v) => TensorRef::from_array_view((shape, &v[a..b])).map_err(s)?.into_dyn(),
                Input::I64(v) => TensorRef::from_array_view((shape, &v[a..b])).map_err(s)?.into_dyn(),
            });
        }
        let mut results: Vec<TensorRefMut<'_, f32>> = Vec::with_capacity(outputs.len());
        for (i, out) in outputs.iter_mut().enumerate() {
            let shape: Vec<usize> = std::iter::once(n).chain(self.spec.outputs[i].1.iter().copied()).collect();
            results.push(TensorRefMut::from_array_view_mut((shape, &mut out[..n * self.per_out[i]])).map_err(s)?);
        }
        let in_names: Vec<*const c_char> = self.input_names.iter().map(|c| c.as_ptr()).collect();
        let out_names: Vec<*const c_char> = self.output_names.iter().map(|c| c.as_ptr()).collect();
        let in_ptrs: Vec<*const ::ort::sys::OrtValue> = values.iter().map(|v| v.ptr()).collect();
        let mut out_ptrs: Vec<*mut ::ort::sys::OrtValue> = results.iter().map(|v| v.ptr().cast_mut()).collect();
        // SAFETY: ONNX Runtime's Run is thread-safe on a shared session (callers on GPU providers also hold
        // `exclusive`); names and values outlive the call; every output value is a tensor of exactly the shape the
        // contract gives, over a live slice of the caller's buffer that no other run touches, which ONNX Runtime
        // fills (it verifies a pre-allocated output's shape against the one the graph produces).
        let status = unsafe {
            (::ort::api().Run)(
                session.ptr().cast_mut(),
                ptr::null(),
                in_names.as_ptr(),
                in_ptrs.as_ptr(),
                in_ptrs.len(),
                out_names.as_ptr(),
                out_names.len(),
                out_ptrs.as_mut_ptr(),
            )
        };
        // SAFETY: `status` comes straight from the API call; result_from_status releases it.
        unsafe { ::ort::Error::result_from_status(status) }.map_err(s)
    }
}

impl Network for OrtNetwork {
    fn spec(&self) -> &NetSpec {
        &self.spec
    }

    fn run(&self, batch: usize, inputs: &[Input<'_>], outputs: &mut [&mut [f32]]) -> Result<()> {
        let role = &self.spec.role;
        if inputs.len() != self.per_in.len() || outputs.len() != self.per_out.len() {
            return Err(Error::Internal(format!("{role}: wrong number of inputs or outputs")));
        }
        for (i, inp) in inputs.iter().enumerate() {
            let want = batch * self.per_in[i];
            let dtype_ok =
                matches!((inp, &self.spec.inputs[i].1), (Input::F32(_), DType::F32) | (Input::I64(_), DType::I64));
            if inp.len() != want || !dtype_ok {
                return Err(Error::Internal(format!(
                    "{role}: input {i} has {} values of the wrong kind or count, expected {want}",
                    inp.len()
                )));
            }
        }
        for (i, out) in outputs.iter().enumerate() {
            if out.len() != batch * self.per_out[i] {
                return Err(Error::Internal(format!(
                    "{role}: output {i} has room for {}, expected {}",
                    out.len(),
                    batch * self.per_out[i]
                )));
            }
        }
        // Each chunk gets its own disjoint piece of every output.
        let chunk = self.max_batch.min(batch.max(1));
        let mut pieces: Vec<Vec<&mut [f32]>> =
            (0..batch.div_ceil(chunk)).map(|_| Vec::with_capacity(outputs.len())).collect();
        for (i, out) in outputs.iter_mut().enumerate() {
            for (c, piece) in out.chunks_mut(chunk * self.per_out[i]).enumerate() {
                pieces[c].push(piece);
            }
        }
        let run = |(c, mut outs): (usize, Vec<&mut [f32]>)| {
            let start = c * chunk;
            guarded("running a network", || self.run_chunk(start, chunk.min(batch - start), inputs, &mut outs))
                .map_err(|msg| Error::Backend { backend: "ort", msg: format!("{role}: {msg}") })
        };
        match &self.exclusive {
            None if self.parallel && pieces.len() > 1 => {
                self.pool.install(|| pieces.into_par_iter().enumerate().try_for_each(run))
            }
            None => pieces.into_iter().enumerate().try_for_each(run),
            Some(lock) => {
                let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
                pieces.into_iter().enumerate().try_for_each(run)
            }
        }
    }
}

/// Runs ort code, turning a panic inside it into an error: ort panics on some failures, and a panic must never
/// reach the C ABI.
fn guarded<T>(what: &str, f: impl FnOnce() -> std::result::Result<T, String>) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(format!("ONNX Runtime failed while {what}: {}", crate::error::panic_message(&*panic)))
    })
}
