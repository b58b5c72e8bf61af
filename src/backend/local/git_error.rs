//! Why talking to a source failed, in the words an operator needs: the cause found by walking the error's
//! source chain (gix wraps the real cause, e.g. "connection refused", in "Transport handshake failed").

use std::error::Error;
use std::io::ErrorKind;

/// The causes an operator can act on, most specific first.
const CAUSES: &[(&str, &[&str])] = &[
    ("connection refused", &["connection refused"]),
    (
        "host not found",
        &[
            "failed to lookup address",
            "name or service not known",
            "nodename nor servname",
            "no such host",
            "could not resolve host",
            "temporary failure in name resolution",
            "dns error",
        ],
    ),
    ("timed out", &["timed out", "timeout"]),
    (
        "authentication required",
        &[
            "authentication",
            "401",
            "403",
            "credentials",
            "terminal prompts disabled",
        ],
    ),
    (
        "repository not found",
        &[
            "repository not found",
            "404",
            // A web server answering without git's smart protocol: no repository there (gix does not
            // speak git's "dumb" HTTP protocol).
            "x-git-upload-pack-advertisement",
        ],
    ),
    (
        "not a git repository",
        &[
            "does not appear to be a git repository",
            "not a git repository",
            "no such file or directory",
            "could not read from remote repository",
        ],
    ),
];

/// The cause of a failed fetch in words (`connection refused`, `host not found`, `timed out`,
/// `authentication required`, `repository not found`, `not a git repository`), if one is recognised anywhere
/// in the chain.
pub fn cause(e: &(dyn Error + 'static)) -> Option<&'static str> {
    let mut chain: Vec<&(dyn Error + 'static)> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        if chain.len() >= 32 {
            break;
        }
        chain.push(err);
        next = err.source();
    }
    // The innermost cause knows best: look from the end.
    for err in chain.iter().rev() {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return Some("connection refused"),
                ErrorKind::TimedOut => return Some("timed out"),
                _ => {}
            }
        }
    }
    let texts: Vec<String> = chain
        .iter()
        .rev()
        .map(|e| e.to_string().to_lowercase())
        .collect();
    CAUSES.iter().find_map(|(words, needles)| {
        texts
            .iter()
            .any(|t| needles.iter().any(|n| t.contains(n)))
            .then_some(*words)
    })
}

/// The innermost message of the chain: the most concrete detail when no cause is recognised.
pub fn innermost(e: &(dyn Error + 'static)) -> String {
    let mut last = e;
    for _ in 0..32 {
        match last.source() {
            Some(s) => last = s,
            None => break,
        }
    }
    last.to_string()
}

/// `cannot fetch URL: CAUSE`, with the detail only when the cause is not one of the known ones.
pub fn describe(url: &str, e: &(dyn Error + 'static)) -> String {
    match cause(e) {
        Some(c) => format!("cannot fetch {url}: {c}"),
        None => format!("cannot fetch {url}: {e}: {}", innermost(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<dyn Error + 'static>>);

    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn finds_the_cause_below_the_wrapper() {
        let io = std::io::Error::from(ErrorKind::ConnectionRefused);
        let e = Wrap(
            "Transport handshake failed",
            Some(Box::new(Wrap("I/O error", Some(Box::new(io))))),
        );
        assert_eq!(cause(&e), Some("connection refused"));
        assert_eq!(
            describe("http://127.0.0.1:1/x", &e),
            "cannot fetch http://127.0.0.1:1/x: connection refused"
        );
        let e = Wrap(
            "Transport handshake failed",
            Some(Box::new(Wrap(
                "fatal: '/nope' does not appear to be a git repository",
                None,
            ))),
        );
        assert_eq!(cause(&e), Some("not a git repository"));
        let e = Wrap("odd", Some(Box::new(Wrap("deep detail", None))));
        assert_eq!(describe("u", &e), "cannot fetch u: odd: deep detail");
    }
}
