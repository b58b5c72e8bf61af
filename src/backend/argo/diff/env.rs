//! The build environment Argo CD's repo-server gives a source (`ARGOCD_APP_NAME`, `ARGOCD_APP_REVISION`,
//! ...), and its substitution into the settings Argo CD substitutes it in (Helm parameters and file
//! parameters, value file paths, kustomize images, commonLabels, and commonAnnotations when asked).

use std::collections::BTreeMap;

/// The variables of one source's build, by name.
#[derive(Debug, Default, Clone)]
pub struct BuildEnv(pub BTreeMap<String, String>);

/// What the environment is made of.
pub struct Of<'a> {
    pub app_name: &'a str,
    pub dest_ns: &'a str,
    pub project: &'a str,
    pub revision: &'a str,
    pub repo_url: &'a str,
    pub path: &'a str,
    pub target_revision: &'a str,
}

impl BuildEnv {
    /// As the repo-server's `newEnv`.
    pub fn new(of: &Of<'_>) -> Self {
        let short = |n: usize| of.revision.chars().take(n).collect::<String>();
        let vars = [
            ("ARGOCD_APP_NAME", of.app_name.to_owned()),
            ("ARGOCD_APP_NAMESPACE", of.dest_ns.to_owned()),
            ("ARGOCD_APP_PROJECT_NAME", of.project.to_owned()),
            ("ARGOCD_APP_REVISION", of.revision.to_owned()),
            ("ARGOCD_APP_REVISION_SHORT", short(7)),
            ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
            ("ARGOCD_APP_SOURCE_REPO_URL", of.repo_url.to_owned()),
            ("ARGOCD_APP_SOURCE_PATH", of.path.to_owned()),
            (
                "ARGOCD_APP_SOURCE_TARGET_REVISION",
                of.target_revision.to_owned(),
            ),
        ];
        Self(vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// `$NAME` and `${NAME}` replaced by the variable (unknown ones by nothing), `$$` by `$`, as Go's
    /// `os.Expand` with Argo CD's mapping does.
    pub fn subst(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, used) = shell_name(after);
            match (name, used) {
                (None, 0) => out.push('$'),
                (None, _) => {} // bad syntax (`${}`, `${x`): eaten, as os.Expand does
                (Some("$"), _) => out.push('$'),
                (Some(n), _) => out.push_str(self.0.get(n).map(String::as_str).unwrap_or("")),
            }
            rest = &after[used..];
        }
        out.push_str(rest);
        out
    }
}

/// The variable name at the start of `s` (after a `$`) and the bytes it takes, as os.Expand's getShellName.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    match b.first() {
        None => (None, 0),
        Some(b'{') => {
            if b.len() > 2 && is_special(b[1]) && b[2] == b'}' {
                return (Some(&s[1..2]), 3);
            }
            match s.find('}') {
                Some(1) => (None, 2), // `${}`: bad syntax, eaten
                Some(end) => (Some(&s[1..end]), end + 1),
                None => (None, 1), // `${` unclosed: eaten
            }
        }
        Some(&c) if is_special(c) => (Some(&s[..1]), 1),
        Some(_) => {
            let n = b
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if n == 0 {
                (None, 0)
            } else {
                (Some(&s[..n]), n)
            }
        }
    }
}

fn is_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit()
}

/// The environment of the app `web` (destination `prod`, project `default`, revision `0123456789abcdef`,
/// repository `http://git/x.git`, target `main`) with its source at `path`: the tests' sample.
#[cfg(test)]
pub fn sample(path: &str) -> BuildEnv {
    BuildEnv::new(&Of {
        app_name: "web",
        dest_ns: "prod",
        project: "default",
        revision: "0123456789abcdef",
        repo_url: "http://git/x.git",
        path,
        target_revision: "main",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_as_argo_cd_does() {
        let env = sample("apps/web");
        assert_eq!(env.subst("img:$ARGOCD_APP_REVISION_SHORT"), "img:0123456");
        assert_eq!(
            env.subst("${ARGOCD_APP_NAME}-${ARGOCD_APP_NAMESPACE}"),
            "web-prod"
        );
        assert_eq!(env.subst("a$$b"), "a$b");
        assert_eq!(env.subst("$UNKNOWN!"), "!");
        assert_eq!(env.subst("cost: 5$"), "cost: 5$");
        assert_eq!(env.subst("x${}y"), "xy");
        assert_eq!(env.subst("$ARGOCD_APP_REVISION_SHORT_8"), "01234567");
        assert_eq!(env.subst("no vars"), "no vars");
    }
}
