#![allow(missing_docs, clippy::unwrap_used)]
use bedrock_chat_benches::*;
use std::time::Duration;

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p) as usize]
}

fn main() {
    let threads: usize = std::env::var("AB_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let rounds: usize = std::env::var("AB_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1001);
    let msgs: usize = std::env::var("AB_MSGS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let rt = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    };
    rt.block_on(async {
        let c = clients().await;
        let past = history(msgs);
        let sdk_past = sdk_history(&past);
        let mut s = session(&c.library, past);
        let n = if msgs >= 1000 { 1 } else { 5 };
        let mode = std::env::var("AB_MODE").unwrap_or_default();
        let req = bedrock_chat::ChatRequest::new(MODEL, vec![bedrock_chat::Message::user(QUESTION)]);
        macro_rules! lib { () => { match mode.as_str() {
            "client" => { let t = std::time::Instant::now(); let r = bedrock_chat::ModelClient::converse(&c.library, &req).await.unwrap(); let e = t.elapsed(); std::hint::black_box(r); e }
            "client2" => { let t = std::time::Instant::now(); let req = bedrock_chat::ChatRequest::new(MODEL, vec![bedrock_chat::Message::user(QUESTION)]).with_inference(bedrock_chat::InferenceConfig::new().max_tokens(bedrock_chat::DEFAULT_MAX_TOKENS)); let r = bedrock_chat::ModelClient::converse(&c.library, &req).await.unwrap(); let e = t.elapsed(); std::hint::black_box(r); e }
            _ => library_turn(&mut s).await,
        } } }
        for _ in 0..200 { lib!(); sdk_turn(&c.sdk, &sdk_past).await; }
        let (mut l, mut k, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
            if round % 2 == 0 {
                for _ in 0..n { a += lib!(); }
                for _ in 0..n { b += sdk_turn(&c.sdk, &sdk_past).await; }
            } else {
                for _ in 0..n { b += sdk_turn(&c.sdk, &sdk_past).await; }
                for _ in 0..n { a += lib!(); }
            }
            l.push(a.as_secs_f64()*1e6/n as f64); k.push(b.as_secs_f64()*1e6/n as f64); r.push(a.as_secs_f64()/b.as_secs_f64());
        }
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        println!("mean lib {:.2} sdk {:.2}", mean(&l), mean(&k));
        println!("lib p10 {:.1} p50 {:.1} | sdk p10 {:.1} p50 {:.1} | ratio of p10 {:.3} of p50 {:.3} median ratio {:.3}",
            pct(l.clone(),0.1), pct(l.clone(),0.5), pct(k.clone(),0.1), pct(k.clone(),0.5),
            pct(l.clone(),0.1)/pct(k.clone(),0.1), pct(l.clone(),0.5)/pct(k.clone(),0.5), pct(r,0.5));
    });
}
