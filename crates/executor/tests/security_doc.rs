//! The signature checks docs/SECURITY.md shows a target, in Python and in Rust, run against
//! signatures the executor makes and against malformed headers. The documented code is the
//! code tested here: the blocks of the document must equal the files in `security_doc/`.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use executor::{SigningSecret, signature_header_value};

include!("security_doc/verify.rs");

const SECURITY_MD: &str = include_str!("../../../docs/SECURITY.md");
const PYTHON: &str = include_str!("security_doc/verify.py");
const RUST: &str = include_str!("security_doc/verify.rs");

/// The first fenced block of `language` in SECURITY.md.
fn documented(language: &str) -> &'static str {
    let fence = format!("```{language}\n");
    let start = SECURITY_MD.find(&fence).expect("a block") + fence.len();
    let length = SECURITY_MD[start..].find("```").expect("the block's end");
    &SECURITY_MD[start..start + length]
}

/// One check: a header, the body and secret the target holds, and whether it is valid.
struct Case {
    header: String,
    body: &'static str,
    secret: &'static str,
    valid: bool,
}

fn cases() -> Vec<Case> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let new = SigningSecret::new("new-secret");
    let old = SigningSecret::new("old-secret");
    let body = r#"{"hello":"world"}"#;
    let signed = |secrets: &[SigningSecret], at: u64| {
        signature_header_value(secrets, at, body.as_bytes()).expect("a header")
    };
    let one = signed(std::slice::from_ref(&new), now);
    let signature = one.split_once(",v1=").expect("a signature").1.to_owned();
    let case = |header: String, secret: &'static str, valid: bool| Case {
        header,
        body,
        secret,
        valid,
    };
    let mut cases = vec![
        case(one.clone(), "new-secret", true),
        case(one.replace(',', ", "), "new-secret", true),
        case(one.clone(), "old-secret", false),
        case(signed(&[new.clone(), old.clone()], now), "old-secret", true),
        case(signed(&[new.clone(), old], now), "new-secret", true),
        case(
            signed(std::slice::from_ref(&new), now - 1_000),
            "new-secret",
            false,
        ),
        Case {
            header: signed(std::slice::from_ref(&new), now),
            body: r#"{"hello":"World"}"#,
            secret: "new-secret",
            valid: false,
        },
        Case {
            header: signature_header_value(std::slice::from_ref(&new), now, b"").expect("a header"),
            body: "",
            secret: "new-secret",
            valid: true,
        },
    ];
    for malformed in [
        String::new(),
        "garbage".to_owned(),
        "t=".to_owned(),
        "t=,v1=".to_owned(),
        "t=abc,v1=00".to_owned(),
        format!("v1={signature}"),
        format!("t={now}"),
        format!("t=-{now},v1={signature}"),
        format!("t={now},t={now},v1={signature}"),
        format!("t={now},v1=zz"),
        format!("t={now},v1=abc"),
        format!("t={now},v1=é{}", &signature[2..]),
        "t=²,v1=é".to_owned(),
        "t=99999999999999999999999999,v1=00".to_owned(),
        ",,,=,==".to_owned(),
    ] {
        cases.push(case(malformed, "new-secret", false));
    }
    cases
}

#[test]
fn the_documented_examples_are_the_tested_ones() {
    assert_eq!(documented("python"), PYTHON);
    assert_eq!(documented("rust"), RUST);
}

#[test]
fn the_rust_example_accepts_the_schedulers_signatures_and_refuses_the_rest() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    for case in cases() {
        assert_eq!(
            verify(
                &case.header,
                case.body.as_bytes(),
                case.secret.as_bytes(),
                now
            ),
            case.valid,
            "{:?} with {}",
            case.header,
            case.secret
        );
    }
}

#[test]
fn the_python_example_accepts_the_schedulers_signatures_and_refuses_the_rest() {
    let cases = cases();
    let mut program = PYTHON.to_owned();
    // The cases as arguments, three by three: header, body, secret.
    program.push_str("\nimport sys\n");
    program.push_str("arguments = sys.argv[1:]\n");
    program.push_str("for i in range(0, len(arguments), 3):\n");
    program.push_str("    header, body, secret = arguments[i:i + 3]\n");
    program.push_str("    print(verify(header, body.encode(), secret.encode()))\n");
    let arguments = cases
        .iter()
        .flat_map(|case| [case.header.as_str(), case.body, case.secret]);
    let output = match Command::new("python3")
        .arg("-c")
        .arg(&program)
        .args(arguments)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("python3 is not installed: the Python example of SECURITY.md was not run");
            return;
        }
        Err(error) => panic!("running python3: {error}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python3 failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<&str> = stdout.lines().collect();
    assert_eq!(answers.len(), cases.len(), "{stdout}");
    for (case, answer) in cases.iter().zip(answers) {
        let expected = if case.valid { "True" } else { "False" };
        assert_eq!(answer, expected, "{:?} with {}", case.header, case.secret);
    }
}
