//! kube's errors by meaning, in one place: 403 → denied, 404 → not found, 409/422 → invalid (a conflict or a
//! rejected change), anything of the transport → unavailable.

use kube::runtime::watcher;

use crate::backend::BackendError;

/// `what` says what was being done ("suspend apps/web"), for the message.
pub fn from_kube(what: &str, e: &kube::Error) -> BackendError {
    match e {
        kube::Error::Api(status) => from_status(what, status.code, &status.message),
        kube::Error::Auth(err) => BackendError::Denied(format!("{what}: credentials: {err}")),
        other => BackendError::Unavailable(format!("{what}: {other}")),
    }
}

pub fn from_status(what: &str, code: u16, message: &str) -> BackendError {
    let msg = format!("{what}: {message}");
    match code {
        401 | 403 => BackendError::Denied(msg),
        404 => BackendError::NotFound(msg),
        400 | 409 | 422 => BackendError::Invalid(msg),
        _ => BackendError::Unavailable(format!("{msg} (HTTP {code})")),
    }
}

/// What a watcher's error means for the kind it watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchFault {
    /// Not allowed: stop watching this kind and say so (never a retry storm).
    Forbidden(String),
    /// The kind is not served (the CRD is gone): stop and say so.
    NotInstalled,
    /// The watch's resource version expired (410 Gone): list again, not an outage.
    Expired,
    /// Transient (the API server is away, the watch expired): the kind is stale until it is listed again.
    Transient(String),
}

pub fn watch_fault(e: &watcher::Error) -> WatchFault {
    let api = match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => match k {
            kube::Error::Api(s) => Some((s.code, s.message.clone())),
            _ => None,
        },
        watcher::Error::WatchError(s) => Some((s.code, s.message.clone())),
        watcher::Error::NoResourceVersion => None,
    };
    match api {
        Some((401 | 403, m)) => WatchFault::Forbidden(m),
        Some((404, _)) => WatchFault::NotInstalled,
        Some((410, _)) => WatchFault::Expired,
        _ => WatchFault::Transient(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_by_meaning() {
        assert!(matches!(
            from_status("x", 403, "no"),
            BackendError::Denied(_)
        ));
        assert!(matches!(
            from_status("x", 404, "no"),
            BackendError::NotFound(_)
        ));
        assert!(matches!(
            from_status("x", 409, "no"),
            BackendError::Invalid(_)
        ));
        assert!(matches!(
            from_status("x", 422, "no"),
            BackendError::Invalid(_)
        ));
        assert!(matches!(
            from_status("x", 503, "no"),
            BackendError::Unavailable(_)
        ));
        let transport = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert!(matches!(
            from_kube("x", &transport),
            BackendError::Unavailable(_)
        ));
        assert_eq!(
            watch_fault(&watcher::Error::NoResourceVersion),
            WatchFault::Transient(watcher::Error::NoResourceVersion.to_string())
        );
    }
}
