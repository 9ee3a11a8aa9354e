//! `dinof`: sample a bundle into a PNG grid or .npy array, inspect it, check it, benchmark it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

mod args;
use args::{BenchArgs, Cli, Cmd, LikelihoodArgs, LoadArgs, SampleArgs};

use clap::Parser;
use dinof::backend::BackendKind;
use dinof::{Corrector, LabelError, LikelihoodOptions, Method, Model, Predictor, SampleOptions, Solver, Start};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Sample(a) => sample(a),
        Cmd::Info { dir, load } => info(&dir, &load),
        Cmd::Check { dir, load } => check(&dir, &load),
        Cmd::Bench(a) => bench(a),
        Cmd::Likelihood(a) => likelihood(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn sample(a: SampleArgs) -> CliResult {
    let ext = a.out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "png" && ext != "npy" {
        return Err(format!("--out must end in .png or .npy, got {}", a.out.display()).into());
    }
    let model = Model::load(&a.bundle, &a.load.options())?;
    let labels = resolve_labels(&model, a.labels.as_deref(), a.per_label)?;
    let n = match (a.n, a.per_label, &labels) {
        (Some(n), Some(_), Some(l)) if n != l.len() => {
            return Err(format!("--n {n} disagrees with --labels × --per-label = {} images", l.len()).into())
        }
        // Several labels without --n: one image per label.
        (None, _, Some(l)) if l.len() > 1 => l.len(),
        (n, _, _) => n.unwrap_or(64),
    };
    let mut sampler = a.sampler.clone();
    if a.no_denoise {
        sampler.denoise = Some(false);
    }
    let opts = SampleOptions {
        n,
        seed: a.seed,
        first_index: a.first_index,
        labels,
        batch_size: a.batch_size,
        ..Default::default()
    }
    .with_choices(sampler);
    let cfg = model.resolve(&opts)?;
    let info = model.info();
    let steps = match cfg.solver {
        Solver::Rk45 if !cfg.predictor_corrector() => format!("adaptive (rtol {}, atol {})", cfg.rtol, cfg.atol),
        _ if cfg.predictor_corrector() => format!("{} steps", cfg.steps),
        _ => format!("{} steps on the {} grid", cfg.steps, cfg.schedule),
    };
    eprintln!(
        "{}: {} images, start {} (t={}), {} {}{}, backend {} [{}]{}",
        a.bundle.display(),
        n,
        cfg.start,
        cfg.t_start,
        if cfg.predictor_corrector() {
            format!("{}+{}", cfg.predictor, cfg.corrector)
        } else {
            format!("{}/{}", cfg.method, cfg.solver)
        },
        steps,
        if cfg.guidance > 0.0 { format!(", guidance {}", cfg.guidance) } else { String::new() },
        info.backend.name,
        info.backend.execution_providers.join(","),
        if a.load.backend == BackendKind::Auto { " (auto)" } else { "" }
    );
    let bar = if a.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(1000) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed_precise} eta {eta}")
            .expect("static template"),
    );
    let mut pixels = vec![0f32; n * model.image_len()];
    let report = model.sample(&opts, &mut pixels, &mut |p| {
        bar.set_position((p.fraction() * 1000.0) as u64);
        true
    })?;
    bar.finish_and_clear();
    let (c, h, w) = (info.channels, info.height, info.width);
    if ext == "png" {
        let nrow = a.nrow.or(a.per_label).unwrap_or_else(|| (n as f64).sqrt().ceil() as usize);
        dinof::output::write_png_grid(&a.out, &pixels, n, c, h, w, nrow)?;
    } else {
        dinof::output::write_npy(&a.out, &pixels, &[n, c, h, w])?;
    }
    eprintln!(
        "wrote {} (seed {}, {} score + {} flow evaluations per image, {} network calls, {:.3} s, {:.1}% in networks)",
        a.out.display(),
        report.seed,
        report.score_evals,
        report.flow_evals,
        report.network_calls,
        report.seconds,
        100.0 * report.network_seconds / report.seconds.max(1e-9)
    );
    Ok(())
}

/// `--labels` (names, indices or `all`) as label indices, each repeated `per_label` times.
fn resolve_labels(
    model: &Model,
    given: Option<&[String]>,
    per_label: Option<usize>,
) -> Result<Option<Vec<i64>>, Box<dyn std::error::Error>> {
    let classes = model.info().classes;
    let Some(given) = given else {
        if per_label.is_some() {
            return Err("--per-label needs --labels".into());
        }
        if classes > 0 {
            // The library's own error, with the flag that fixes it and the names to choose from.
            let names = model.info().labels;
            let choose = if names.is_empty() {
                format!("indices 0..{}", classes - 1)
            } else {
                format!("names ({}), indices", names.join(", "))
            };
            return Err(format!(
                "{}: pass --labels with {choose} or `all` (e.g. --labels all --per-label 8)",
                dinof::Error::from(LabelError::Missing { classes })
            )
            .into());
        }
        return Ok(None);
    };
    if classes == 0 {
        return Err(dinof::Error::from(LabelError::Unconditional).into());
    }
    let mut labels = Vec::new();
    for g in given {
        if g.trim().eq_ignore_ascii_case("all") {
            labels.extend(0..model.info().classes as i64);
        } else {
            labels.push(model.label_index(g)?);
        }
    }
    if let Some(k) = per_label {
        if k == 0 {
            return Err("--per-label must be ≥ 1".into());
        }
        labels = labels.iter().flat_map(|&l| std::iter::repeat_n(l, k)).collect();
    }
    Ok(Some(labels))
}

fn info(dir: &Path, load: &LoadArgs) -> CliResult {
    let bundle = dinof::Bundle::open(dir)?;
    let m = &bundle.manifest;
    println!("bundle      {} ({})", dir.display(), if m.name.is_empty() { "unnamed" } else { &m.name });
    if !m.description.is_empty() {
        println!("            {}", m.description);
    }
    println!("format      {} v{}", m.format, m.format_version);
    println!(
        "image       {}×{}×{} (pixel = x·{} + {})",
        m.image.channels, m.image.height, m.image.width, m.image.pixel_scale, m.image.pixel_offset
    );
    let s = &bundle.sde;
    let params = match s.kind {
        dinof::SdeKind::Ve => format!("sigma {}..{}", s.sigma_min, s.sigma_max),
        _ => format!("beta {}..{}", s.beta_min, s.beta_max),
    };
    println!("sde         {} ({params}, N {}, eps {})", s.kind.name(), s.n, s.eps);
    println!("classes     {}", m.classes);
    if let Some(names) = &m.labels {
        let list: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{i} {n}")).collect();
        println!("labels      {}", list.join(", "));
    }
    if let Some(null) = m.score.null_label {
        println!("guidance    supported (null label {null})");
    }
    println!("score       {} (t_max {})", m.score.file, m.score.t_max);
    for (kind, f) in m.flows.iter().map(|f| ("flow    ", f)).chain(m.gaussians.iter().map(|f| ("gaussian", f))) {
        println!(
            "{kind}    {} (T_m {}{}{})",
            f.file,
            f.t_m,
            if f.conditional { ", conditional" } else { "" },
            f.density_file.as_ref().map(|d| format!(", density {d}")).unwrap_or_default()
        );
    }
    println!("sampler     {}", serde_json::to_string(&m.sampler)?);
    if !m.provenance.is_empty() {
        println!("provenance  {}", serde_json::to_string(&m.provenance)?);
    }
    let model = Model::load(dir, &load.options())?;
    let b = model.info().backend;
    println!(
        "backend     {} [{}]{}{} threads {} sub-batch {}",
        b.name,
        b.execution_providers.join(","),
        if b.fell_back { " (fell back)" } else { "" },
        if load.backend == BackendKind::Auto { " (auto)" } else { "" },
        b.threads,
        b.sub_batch
    );
    let mut files = vec![m.score.file.clone()];
    files.extend(m.flows.iter().chain(&m.gaussians).map(|f| f.file.clone()));
    files.extend(m.flows.iter().chain(&m.gaussians).filter_map(|f| f.density_file.clone()));
    for f in files {
        let summary = dinof::backend::describe_onnx(&bundle.file(&f))?;
        println!("network     {f}: {summary}");
    }
    Ok(())
}

fn check(dir: &Path, load: &LoadArgs) -> CliResult {
    let model = Model::load(dir, &load.options())?;
    let info = model.info();
    // A conditional model needs a label: class 0 stands for all.
    let labels = (info.classes > 0).then(|| vec![0]);
    let mut opts = SampleOptions { n: 1, seed: Some(0), steps: Some(1), labels: labels.clone(), ..Default::default() };
    let mut out = vec![0f32; model.image_len()];
    let starts: Vec<(Start, Option<f64>)> = info
        .t_ms
        .iter()
        .map(|&t| (Start::Flow, Some(t)))
        .chain(info.gaussian_t_ms.iter().map(|&t| (Start::Gaussian, Some(t))))
        .chain(info.has_prior_start.then_some((Start::Prior, None)))
        .collect();
    for (start, t_m) in starts {
        opts.start = Some(start);
        opts.t_m = t_m;
        let r = model.sample(&opts, &mut out, &mut |_| true)?;
        println!(
            "ok  start {start}{}: {} network calls, finite output",
            t_m.map(|t| format!(" T_m {t}")).unwrap_or_default(),
            r.network_calls
        );
    }
    if info.guidance {
        let r = model.sample(&SampleOptions { guidance: Some(1.0), ..opts }, &mut out, &mut |_| true)?;
        println!("ok  guidance 1: {} score evaluations, finite output", r.score_evals);
    }
    println!("bundle {} is valid ({} backend)", dir.display(), info.backend.name);
    Ok(())
}

fn bench(a: BenchArgs) -> CliResult {
    println!(
        "network cost per image by sub-batch size (threads {}):",
        if a.load.threads == 0 { "auto".to_string() } else { a.load.threads.to_string() }
    );
    let mut base = None;
    for &sb in &a.sub_batches {
        let mut load = a.load.clone();
        load.sub_batch = sb;
        load.threads = 1;
        let model = Model::load(&a.dir, &load.options())?;
        let n = sb.max(1);
        let labels = (model.info().classes > 0).then(|| vec![0]);
        let opts = SampleOptions {
            n,
            seed: Some(1),
            steps: Some(a.reps),
            start: Some(Start::Prior).filter(|_| model.info().has_prior_start),
            corrector: Some(Corrector::None),
            predictor: Some(Predictor::EulerMaruyama),
            method: Some(Method::Sde),
            labels,
            ..Default::default()
        };
        let mut out = vec![0f32; n * model.image_len()];
        model.sample(&opts, &mut out, &mut |_| true)?; // warm-up: compiles the plan for this batch size
        let r = model.sample(&opts, &mut out, &mut |_| true)?;
        let per = r.network_seconds / (r.network_calls as f64 * n as f64) * 1e3;
        let rel = per / *base.get_or_insert(per);
        println!("  sub-batch {sb:>3}: {per:8.3} ms/image/forward (×{rel:.2} vs first), one thread");
    }
    let model = Model::load(&a.dir, &a.load.options())?;
    let labels = (model.info().classes > 0).then(|| vec![0]);
    let opts = SampleOptions { n: a.n, seed: Some(1), steps: Some(a.steps), labels, ..Default::default() };
    let mut out = vec![0f32; a.n * model.image_len()];
    model.sample(&opts, &mut out, &mut |_| true)?;
    let t0 = Instant::now();
    let r = model.sample(&opts, &mut out, &mut |_| true)?;
    let wall = t0.elapsed().as_secs_f64();
    let overhead = r.seconds - r.network_seconds;
    let b = model.info().backend;
    println!(
        "sampling {} images × {} steps ({} backend, {} threads, sub-batch {}):",
        a.n, a.steps, b.name, b.threads, b.sub_batch
    );
    println!(
        "  total {wall:.3} s = {:.1} images/s; networks {:.3} s; loop overhead {:.3} ms = {:.2}% of the run \
        ({:.2} µs per image-step)",
        a.n as f64 / wall,
        r.network_seconds,
        overhead * 1e3,
        100.0 * overhead / r.seconds,
        overhead * 1e6 / (a.n as f64 * r.score_evals.max(1) as f64)
    );
    Ok(())
}

fn likelihood(a: LikelihoodArgs) -> CliResult {
    let model = Model::load(&a.bundle, &a.load.options())?;
    let info = model.info();
    let arr = dinof::npy::read_npy(&a.data)?;
    let (c, h, w) = (info.channels, info.height, info.width);
    let n_all = match arr.shape[..] {
        [n, cc, hh, ww] if (cc, hh, ww) == (c, h, w) => n,
        [n, hh, ww] if c == 1 && (hh, ww) == (h, w) => n,
        _ => {
            return Err(format!(
                "{}: shape {:?} does not match the model's images ({c}×{h}×{w}): need N×{c}×{h}×{w}{}",
                a.data.display(),
                arr.shape,
                if c == 1 { format!(" or N×{h}×{w}") } else { String::new() }
            )
            .into())
        }
    };
    let n = a.limit.map_or(n_all, |l| l.min(n_all));
    let opts = LikelihoodOptions {
        seed: a.seed,
        first_index: 0,
        start: a.start,
        t_m: a.t_m,
        dequantize: a.dequantize,
        probes: a.probes,
        rtol: a.rtol,
        atol: a.atol,
        fd_step: a.fd_step,
        labels: a.labels.clone(),
        batch_size: a.batch_size,
    };
    let bar = if a.quiet || a.json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(n as u64) };
    let r = model.log_likelihood(&arr.data[..n * model.image_len()], n, &opts, &mut |done, _| {
        bar.set_position(done as u64);
        true
    })?;
    bar.finish_and_clear();
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["bundle"] = a.bundle.display().to_string().into();
        v["data"] = a.data.display().to_string().into();
        v["n"] = n.into();
        println!("{}", serde_json::to_string(&v)?);
        return Ok(());
    }
    for (k, im) in r.images.iter().enumerate() {
        println!("image {k:>5}: {:.4} bits/dim ({} ODE evaluations)", im.bits_per_dim, im.ode_evals);
    }
    let start = match r.start {
        Start::Flow | Start::Gaussian => format!("{} start, T_m {}", r.start, r.t_end),
        Start::Prior => "prior start, t = 1".to_string(),
    };
    println!(
        "{}: {:.4} ± {:.4} bits/dim (mean ± std error over {n} images; dequantize {}, {start}, {} probe(s), rk45 \
            rtol {} atol {}, fd step {}·σ(t))",
        a.data.display(),
        r.mean_bits_per_dim,
        r.std_error,
        r.dequantize,
        r.probes,
        r.rtol,
        r.atol,
        r.fd_step
    );
    println!(
        "seed {}, {} score evaluations per image, {} network calls, {:.2} s ({:.1}% in networks)",
        r.seed,
        r.score_evals,
        r.network_calls,
        r.seconds,
        100.0 * r.network_seconds / r.seconds.max(1e-9)
    );
    Ok(())
}
