//! Reading an inventory fast. It is read at the start of every `setpoint agent --once`, and for a target of
//! 10,000 files it is 2 MB of JSON: through serde_json's derived visitors that was most of a no-op pass's
//! CPU time. The agent writes it as compact JSON ([`super::state::write_json_compact`]) with the fields in
//! the order of the structs; this reads exactly that shape in one scan over the bytes and gives up on
//! anything else (whitespace, escapes in a string, `null`, a field it does not know, keys out of order,
//! numbers that are not plain integers), which serde_json then reads as before. So the file stays the
//! JSON it always was, older workspaces (pretty-printed inventories) read as they did, and an invalid file
//! gets serde_json's error.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::state::{Inventory, InventoryEntry, NextContent};

/// Reads an inventory; a missing file is an empty one.
pub fn read_inventory(path: &Path) -> Result<Inventory, String> {
    match std::fs::read(path) {
        Ok(bytes) => parse_inventory(&bytes)
            .map_err(|e| format!("{}: corrupt state file: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Inventory::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The inventory in `bytes`: through the fast reader when it is the agent's own compact JSON, otherwise
/// through serde_json.
pub fn parse_inventory(bytes: &[u8]) -> Result<Inventory, serde_json::Error> {
    match parse_compact(bytes) {
        Some(inv) => Ok(inv),
        None => serde_json::from_slice(bytes),
    }
}

/// The inventory, when `bytes` is compact JSON of the shape the agent writes; `None` for anything else.
/// Whatever it returns is what serde_json would read from the same bytes (the tests hold it to that).
pub(super) fn parse_compact(bytes: &[u8]) -> Option<Inventory> {
    let mut c = Cursor { b: bytes, i: 0 };
    let mut inv = Inventory::default();
    let (mut seen_files, mut seen_staging) = (false, false);
    c.eat(b'{')?;
    if !c.eat_if(b'}') {
        loop {
            match c.key()? {
                b"files" if !seen_files => {
                    seen_files = true;
                    inv.files = c.files()?;
                }
                b"staging" if !seen_staging => {
                    seen_staging = true;
                    inv.staging = Some(c.string()?.to_owned());
                }
                _ => return None,
            }
            if c.eat_if(b'}') {
                break;
            }
            c.eat(b',')?;
        }
    }
    (c.i == bytes.len()).then_some(inv)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.eat_if(byte).then_some(())
    }

    fn eat_if(&mut self, byte: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&byte);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn eat_word(&mut self, word: &[u8]) -> bool {
        let hit = self.b.get(self.i..self.i + word.len()) == Some(word);
        if hit {
            self.i += word.len();
        }
        hit
    }

    /// A string without escapes or control characters, valid UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = self.b.get(self.i..)?;
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        let s = std::str::from_utf8(rest.get(..len)?).ok()?;
        self.i += len + 1;
        Some(s)
    }

    /// A key and its colon.
    fn key(&mut self) -> Option<&'a [u8]> {
        let k = self.string()?;
        self.eat(b':')?;
        Some(k.as_bytes())
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.eat_word(b"true") {
            Some(true)
        } else if self.eat_word(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A plain JSON integer (`-?(0|[1-9][0-9]*)`, no fraction or exponent, no `-0`) that fits an i128.
    fn integer(&mut self) -> Option<i128> {
        let negative = self.eat_if(b'-');
        let start = self.i;
        let mut value: i128 = 0;
        while let Some(&d) = self.b.get(self.i).filter(|d| d.is_ascii_digit()) {
            let digit = i128::from(d - b'0');
            value = value.checked_mul(10)?;
            value = if negative {
                value.checked_sub(digit)?
            } else {
                value.checked_add(digit)?
            };
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = self.b.get(start) == Some(&b'0');
        if digits == 0 || (leading_zero && (digits > 1 || negative)) {
            return None;
        }
        // A fraction or an exponent makes it a float: serde_json's business.
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(value)
    }

    /// `"path":{entry},…}`: the files, in strictly ascending order of path.
    fn files(&mut self) -> Option<BTreeMap<String, InventoryEntry>> {
        self.eat(b'{')?;
        let mut files: Vec<(String, InventoryEntry)> = Vec::new();
        if self.eat_if(b'}') {
            return Some(BTreeMap::new());
        }
        loop {
            let path = self.string()?;
            self.eat(b':')?;
            if files.last().is_some_and(|(last, _)| last.as_str() >= path) {
                return None;
            }
            let entry = self.entry()?;
            files.push((path.to_owned(), entry));
            if self.eat_if(b'}') {
                break;
            }
            self.eat(b',')?;
        }
        // Already sorted and without duplicates: built in one go.
        Some(files.into_iter().collect())
    }

    fn entry(&mut self) -> Option<InventoryEntry> {
        self.eat(b'{')?;
        let mut hash = None;
        let mut executable = None;
        let mut size = None;
        let mut mtime_ns = None;
        let mut ctime_ns = None;
        let mut mode = None;
        let mut next = None;
        if !self.eat_if(b'}') {
            loop {
                match self.key()? {
                    b"hash" if hash.is_none() => hash = Some(self.string()?.to_owned()),
                    b"executable" if executable.is_none() => executable = Some(self.boolean()?),
                    b"size" if size.is_none() => size = Some(u64::try_from(self.integer()?).ok()?),
                    b"mtimeNs" if mtime_ns.is_none() => mtime_ns = Some(self.integer()?),
                    b"ctimeNs" if ctime_ns.is_none() => ctime_ns = Some(self.integer()?),
                    b"mode" if mode.is_none() => mode = Some(u32::try_from(self.integer()?).ok()?),
                    b"next" if next.is_none() => next = Some(self.next_content()?),
                    _ => return None,
                }
                if self.eat_if(b'}') {
                    break;
                }
                self.eat(b',')?;
            }
        }
        Some(InventoryEntry {
            hash: hash?,
            executable: executable?,
            size: size?,
            mtime_ns: mtime_ns?,
            ctime_ns: ctime_ns.unwrap_or_default(),
            mode: mode.unwrap_or_default(),
            next,
        })
    }

    fn next_content(&mut self) -> Option<NextContent> {
        self.eat(b'{')?;
        let mut hash = None;
        let mut executable = None;
        loop {
            match self.key()? {
                b"hash" if hash.is_none() => hash = Some(self.string()?.to_owned()),
                b"executable" if executable.is_none() => executable = Some(self.boolean()?),
                _ => return None,
            }
            if self.eat_if(b'}') {
                break;
            }
            self.eat(b',')?;
        }
        Some(NextContent {
            hash: hash?,
            executable: executable?,
        })
    }
}

#[cfg(test)]
#[path = "inventory_json_tests.rs"]
mod tests;
