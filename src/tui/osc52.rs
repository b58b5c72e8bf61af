//! Copy over SSH: the selected unit's id or commit goes to the terminal's clipboard with OSC 52.
//! OSC 52: the terminal puts text on its clipboard. The sequence travels through ssh untouched and
//! through tmux when its `set-clipboard` is `on`, so copying works on a bastion.

use super::app::{App, Effect, Flash, Tone, View};

impl App {
    /// Copies what is selected: the commit in history, the source on the sources screen, else the unit.
    pub(super) fn copy_selected(&mut self) -> Vec<Effect> {
        let (what, text) = match self.view() {
            View::History => match self
                .history
                .entries
                .ready()
                .and_then(|l| l.get(self.history.selected))
            {
                Some(e) => ("commit", e.revision.sha().to_owned()),
                None => {
                    self.error("no commit selected");
                    return Vec::new();
                }
            },
            View::Sources => match self.selected_source_id() {
                Some(id) => ("source", id),
                None => {
                    self.error("no source selected");
                    return Vec::new();
                }
            },
            _ => match self.current_unit() {
                Some(u) => ("unit id", u.id.clone()),
                None => {
                    self.error("no unit selected");
                    return Vec::new();
                }
            },
        };
        self.flash = Some(Flash {
            ok: true,
            tone: Tone::Plain,
            text: format!("copied {what} {text} to the clipboard (OSC 52)"),
        });
        vec![Effect::Copy(text)]
    }
}

/// The escape sequence that sets the clipboard to `text`.
pub fn sequence(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

/// Standard base64 with padding (RFC 4648), as OSC 52 wants it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain}");
        }
    }

    #[test]
    fn the_sequence_is_osc_52_to_the_clipboard() {
        assert_eq!(sequence("local/prod"), "\x1b]52;c;bG9jYWwvcHJvZA==\x07");
    }
}
