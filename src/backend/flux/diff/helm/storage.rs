//! Helm's release storage, the inventory of a HelmRelease: the Secrets `sh.helm.release.v1.<release>.v<N>`
//! (labels `owner=helm`, `name=<release>`) in the storage namespace, each holding the release as
//! base64 of gzip of JSON. The newest release's manifest names the objects Helm manages: those no longer
//! rendered are deleted by the next upgrade.

use std::io::Read;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::Value;

/// The newest stored release: its version, status and manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub version: i64,
    pub status: String,
    pub manifest: String,
}

/// The newest release stored for `name` in `ns`; `None` when none is (never installed, or uninstalled).
pub async fn newest(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<Release>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("owner=helm,name={name}"));
    let list = api.list(&lp).await.map_err(|e| {
        format!(
            "the Secrets of Helm's release storage in {ns}: {}",
            super::short(&e)
        )
    })?;
    let mut newest: Option<Release> = None;
    for s in list.items {
        let Some(raw) = s.data.as_ref().and_then(|d| d.get("release")) else {
            continue;
        };
        let r = decode(&raw.0).map_err(|e| {
            format!(
                "the release Secret {ns}/{}: {e}",
                s.metadata.name.as_deref().unwrap_or("")
            )
        })?;
        if newest.as_ref().is_none_or(|n| r.version > n.version) {
            newest = Some(r);
        }
    }
    Ok(newest)
}

/// A release as Helm's Secret driver stores it: base64 text of (usually gzipped) JSON.
pub fn decode(stored: &[u8]) -> Result<Release, String> {
    let bytes = base64_decode(stored).ok_or("the release is not base64")?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("the release does not gunzip: {e}"))?;
        out
    } else {
        bytes
    };
    let v: Value =
        serde_json::from_slice(&json).map_err(|e| format!("the release is not JSON: {e}"))?;
    Ok(Release {
        version: v.get("version").and_then(Value::as_i64).unwrap_or(0),
        status: v
            .pointer("/info/status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        manifest: v
            .get("manifest")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    })
}

/// Standard base64 (padding optional, whitespace ignored); `None` on any other byte.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        if c == b'=' || c.is_ascii_whitespace() {
            continue;
        }
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
        out
    }

    #[test]
    fn base64_round_trips() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"hello, world\x00\xff"] {
            assert_eq!(base64_decode(base64(s).as_bytes()).unwrap(), s);
        }
        assert!(base64_decode(b"a$b").is_none());
    }

    #[test]
    fn a_stored_release_is_read_as_helm_writes_it() {
        let json = serde_json::json!({"name": "web", "version": 3, "info": {"status": "deployed"},
                                      "manifest": "---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\n"});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json.to_string().as_bytes()).unwrap();
        let stored = base64(&gz.finish().unwrap());
        let r = decode(stored.as_bytes()).unwrap();
        assert_eq!((r.version, r.status.as_str()), (3, "deployed"));
        assert!(r.manifest.contains("kind: ConfigMap"));
        // not gzipped (older Helm): JSON as is
        let r = decode(base64(json.to_string().as_bytes()).as_bytes()).unwrap();
        assert_eq!(r.version, 3);
        assert!(decode(b"bm90IGpzb24=").is_err());
    }
}
