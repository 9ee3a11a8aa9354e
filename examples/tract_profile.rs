//! Per-op time of an ONNX network on tract, the way the tract backend compiles it (batch fixed per plan,
//! `into_optimized`): which operators dominate a forward pass.
//!
//! usage: cargo run --example tract_profile -- FILE.onnx [BATCH] [REPS]   (inputs: x [B,C,H,W] f32 and t [B] f32)

use std::collections::HashMap;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::SimpleState;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: tract_profile FILE.onnx [BATCH] [REPS]");
    let batch: usize = args.get(2).map_or(1, |s| s.parse().expect("BATCH"));
    let reps: usize = args.get(3).map_or(20, |s| s.parse().expect("REPS"));
    let t_parse = Instant::now();
    let mut model = tract_onnx::onnx().with_ignore_value_info(true).model_for_path(path)?;
    let parse_s = t_parse.elapsed().as_secs_f64();
    let b = model.symbols.sym("B");
    model.set_input_fact(
        0,
        InferenceFact::dt_shape(f32::datum_type(), tvec![b.to_dim(), 1.to_dim(), 28.to_dim(), 28.to_dim()]),
    )?;
    if model.inputs.len() > 1 {
        model.set_input_fact(1, InferenceFact::dt_shape(f32::datum_type(), tvec![b.to_dim()]))?;
    }
    let t_typed = Instant::now();
    let typed = model.into_typed()?.into_decluttered()?;
    let typed_s = t_typed.elapsed().as_secs_f64();
    let t_opt = Instant::now();
    let subs = HashMap::from([(b.clone(), (batch as i64).to_dim())]);
    let opt = typed.set_symbols(&subs)?.into_optimized()?;
    let plan = opt.into_runnable()?;
    let opt_s = t_opt.elapsed().as_secs_f64();
    println!(
        "load: parse {:.0} ms, typed + decluttered {:.0} ms, optimized plan for batch {batch} {:.0} ms",
        parse_s * 1e3,
        typed_s * 1e3,
        opt_s * 1e3
    );
    let x = Tensor::from_shape(&[batch, 1, 28, 28], &vec![0.1f32; batch * 784])?;
    let t = Tensor::from_shape(&[batch], &vec![0.5f32; batch])?;
    let inputs = || -> TVec<TValue> {
        let mut v = tvec![x.clone().into_tvalue()];
        if plan.model().inputs.len() > 1 {
            v.push(t.clone().into_tvalue());
        }
        v
    };
    plan.run(inputs())?; // warm-up
    let mut per_op: HashMap<String, (f64, usize)> = HashMap::new();
    let mut per_node: HashMap<usize, (String, f64)> = HashMap::new();
    let mut state = SimpleState::new(&plan)?;
    let t0 = Instant::now();
    for _ in 0..reps {
        state.run_plan_with_eval(inputs(), |ctx, st, node, input| {
            let s = Instant::now();
            let r = tract_onnx::tract_core::plan::eval(ctx, st, node, input);
            let dt = s.elapsed().as_secs_f64();
            let e = per_op.entry(node.op().name().to_string()).or_insert((0.0, 0));
            e.0 += dt;
            e.1 += 1;
            per_node.entry(node.id).or_insert_with(|| (format!("{} {}", node.op().name(), node.name), 0.0)).1 += dt;
            r
        })?;
    }
    let wall = t0.elapsed().as_secs_f64() / reps as f64;
    let total: f64 = per_op.values().map(|v| v.0).sum::<f64>() / reps as f64;
    println!(
        "{path}: batch {batch}, {} nodes, {:.3} ms per forward ({:.3} ms/image), {:.3} ms inside nodes",
        plan.model().nodes.len(),
        wall * 1e3,
        wall * 1e3 / batch as f64,
        total * 1e3
    );
    let mut ops: Vec<_> = per_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .0.partial_cmp(&a.1 .0).unwrap());
    for (name, (s, n)) in ops.iter().take(15) {
        println!(
            "  {:<28} {:>8.3} ms {:>5.1}%  ({} nodes)",
            name,
            s / reps as f64 * 1e3,
            100.0 * s / reps as f64 / total,
            n / reps
        );
    }
    let mut nodes: Vec<_> = per_node.into_iter().collect();
    nodes.sort_by(|a, b| b.1 .1.partial_cmp(&a.1 .1).unwrap());
    println!("slowest nodes:");
    for (_, (name, s)) in nodes.iter().take(12) {
        println!("  {:>8.3} ms  {}", s / reps as f64 * 1e3, name);
    }
    Ok(())
}
