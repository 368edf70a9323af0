//! The example project in `examples/weather`, as the README runs it: its tools compute what they
//! say. Run on a copy, so that no test writes into the repository.

use serde_json::{Value, json};

use crate::common::{Fixture, Output, runtime_bin};

/// A copy of `examples/weather`.
fn weather() -> Fixture {
    crate::common::example("weather")
}

fn exec(project: &Fixture, runtime: &str, tool: &str, input: Value) -> Value {
    let out = Output::from(
        project
            .compozy(&[
                "exec",
                tool,
                "--runtime",
                runtime,
                "--input",
                &input.to_string(),
            ])
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"))
            .output()
            .expect("run compozy"),
    );
    out.expect_code(0);
    serde_json::from_str(out.stdout.trim()).expect("a JSON result")
}

fn math_tools_compute_what_they_say(runtime: &str) {
    let p = weather();
    p.run(&["gen", "--check"]).expect_code(0);
    assert_eq!(
        exec(&p, runtime, "math.add", json!({"a": 3, "b": 4})),
        json!(7)
    );
    assert_eq!(
        exec(&p, runtime, "math.multiply", json!({"a": 3, "b": 4})),
        json!(12)
    );
    assert_eq!(
        exec(&p, runtime, "weather_tool", json!({"city": "Oslo"}))["units"],
        json!("metric")
    );
}

on_both_runtimes!(math_tools_compute_what_they_say);
