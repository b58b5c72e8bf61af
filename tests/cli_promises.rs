//! README promises of the CLI with no other test: completion scripts for zsh and fish.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::Ws;

#[test]
fn completions_for_zsh_and_fish_name_every_command() {
    let ws = Ws::new();
    let zsh = ws.ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef setpoint"), "{zsh}");
    let fish = ws.ok(&["completions", "fish"]);
    assert!(fish.contains("complete -c setpoint"), "{fish}");
    for cmd in support::COMMANDS {
        assert!(zsh.contains(&format!("'{cmd}:")), "zsh lacks {cmd}");
        assert!(fish.contains(&format!("-a \"{cmd}\"")), "fish lacks {cmd}");
    }
    for opt in ["--workspace", "--read-only", "--output"] {
        assert!(zsh.contains(opt), "zsh lacks {opt}");
        assert!(
            fish.contains(&format!("-l {}", &opt[2..])),
            "fish lacks {opt}"
        );
    }
    let out = ws.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
