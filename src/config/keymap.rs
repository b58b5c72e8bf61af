//! Keymaps as data: keys → named commands, per mode. Views never match keys themselves.
//!
//! A keymap file has one table per mode; each entry binds a command to a key or a list of keys
//! (`quit = ["q", "ctrl-c"]`); an empty list unbinds. A user file of the same name in `<config>/keymaps/`
//! overlays the shipped one command by command, and its keys take precedence over shipped bindings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use toml::{Spanned, Value};

use super::{ConfigError, error::unknown_message};

/// Where keys are looked up. Mode bindings shadow `global`; `compare` falls back to `diff` first (its lower
/// pane is a diff); `dialog` and `input` never fall back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Global,
    Units,
    Sources,
    Detail,
    Diff,
    Compare,
    History,
    Help,
    Dialog,
    Input,
}

impl Mode {
    pub const ALL: [Mode; 10] = [
        Mode::Global,
        Mode::Units,
        Mode::Sources,
        Mode::Detail,
        Mode::Diff,
        Mode::Compare,
        Mode::History,
        Mode::Help,
        Mode::Dialog,
        Mode::Input,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Global => "global",
            Mode::Units => "units",
            Mode::Sources => "sources",
            Mode::Detail => "detail",
            Mode::Diff => "diff",
            Mode::Compare => "compare",
            Mode::History => "history",
            Mode::Help => "help",
            Mode::Dialog => "dialog",
            Mode::Input => "input",
        }
    }

    /// Where a key this mode does not bind is looked up next, in order.
    pub fn fallbacks(self) -> &'static [Mode] {
        match self {
            Mode::Dialog | Mode::Input | Mode::Global => &[],
            Mode::Compare => &[Mode::Diff, Mode::Global],
            _ => &[Mode::Global],
        }
    }
}

macro_rules! commands {
    ($( $variant:ident => $name:literal, $desc:literal, [$($mode:ident),*]; )*) => {
        /// Everything a key can do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Command { $($variant,)* }

        impl Command {
            pub const ALL: &'static [Command] = &[$(Command::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Command::$variant => $name,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(Command::$variant => $desc,)* }
            }

            /// The modes this command may be bound in.
            pub fn modes(self) -> &'static [Mode] {
                match self { $(Command::$variant => &[$(Mode::$mode),*],)* }
            }
        }
    };
}

commands! {
    Quit => "quit", "quit setpoint", [Global];
    Help => "help", "show the keys of this screen", [Global];
    CommandPrompt => "command", "open the : command prompt", [Global];
    Filter => "filter", "fuzzy-filter the list", [Global];
    Back => "back", "go back / close", [Global, Help];
    Up => "up", "move up", [Global, Help];
    Down => "down", "move down", [Global, Help];
    PageUp => "page_up", "page up", [Global, Help];
    PageDown => "page_down", "page down", [Global, Help];
    Top => "top", "go to the top", [Global, Help];
    Bottom => "bottom", "go to the bottom", [Global, Help];
    Refresh => "refresh", "reload from the backend", [Global];
    Copy => "copy", "copy the unit id (the commit in history) to the clipboard, OSC 52", [Global];
    ViewUnits => "units", "show units", [Global];
    ViewSources => "sources", "show sources", [Global];
    Open => "open", "open the selected item", [Units, Sources, History];
    Diff => "diff", "live vs desired diff", [Units, Detail];
    Compare => "compare", "promotion compare with the next (or previous) unit", [Units];
    CompareWith => "compare_with", "compare with another unit (asks which)", [Compare];
    SwapSides => "swap_sides", "swap the two units compared", [Compare];
    History => "history", "source commits of the unit", [Units, Detail];
    Suspend => "suspend", "suspend the unit (asks a reason)", [Units, Detail];
    Resume => "resume", "resume the unit (and release a pin)", [Units, Detail];
    Sync => "sync", "reconcile now", [Units, Detail];
    SyncWithSource => "sync_with_source", "fetch the source, then reconcile", [Units, Detail, Sources];
    Rollback => "rollback", "roll back to the selected commit", [History];
    Terminate => "terminate", "Argo CD: stop the running operation", [Units, Detail];
    RefreshUnit => "refresh_unit", "Argo CD: compare again now, nothing applied", [Units, Detail];
    NextPane => "next_pane", "next pane", [Detail, Diff];
    NextFile => "next_file", "next file", [Diff];
    PrevFile => "prev_file", "previous file", [Diff];
    NextHunk => "next_hunk", "next hunk", [Diff];
    PrevHunk => "prev_hunk", "previous hunk", [Diff];
    SideBySide => "side_by_side", "toggle side-by-side view", [Diff];
    ScrollLeft => "scroll_left", "scroll long lines left", [Diff];
    ScrollRight => "scroll_right", "scroll long lines right", [Diff];
    Search => "search", "search in the diff", [Diff];
    SearchNext => "search_next", "next match", [Diff];
    SearchPrev => "search_prev", "previous match", [Diff];
    Confirm => "confirm", "confirm", [Dialog];
    Cancel => "cancel", "cancel", [Dialog, Input];
    Submit => "submit", "accept the input", [Input];
    Complete => "complete", "complete the command", [Input];
}

/// One key with its modifiers, as written in keymap files (`ctrl-d`, `G`, `enter`), or the second key
/// of a two-key sequence (`ctrl-x ctrl-c`) with the first as its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
    /// The key pressed before this one, for a sequence.
    pub prefix: Option<(KeyCode, KeyModifiers)>,
}

const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("space", KeyCode::Char(' ')),
];

impl Key {
    /// Parses `ctrl-alt-x`, `shift-tab`, `f5`, `pagedown`, `?`, `G`, and a sequence of two such keys
    /// separated by a space (`ctrl-x ctrl-c`).
    pub fn parse(s: &str) -> Result<Key, String> {
        if let Some((first, second)) = s.trim().split_once(' ') {
            let first = Key::parse_one(first)?;
            let second = Key::parse_one(second.trim())?;
            return Ok(Key {
                prefix: Some((first.code, first.mods)),
                ..second
            });
        }
        Key::parse_one(s)
    }

    /// This key pressed after `prefix`.
    pub fn after(self, prefix: Key) -> Key {
        Key {
            prefix: Some((prefix.code, prefix.mods)),
            ..self
        }
    }

    fn parse_one(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if rest.len() == len {
                break;
            }
            mods |= m;
            rest = &rest[len..];
        }
        let lower = rest.to_ascii_lowercase();
        let mut code = if let Some((_, c)) = NAMED_KEYS.iter().find(|(n, _)| *n == lower) {
            *c
        } else if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
            if !(1..=12).contains(&n) {
                return Err(format!("`{s}`: function keys are f1 to f12"));
            }
            KeyCode::F(n)
        } else {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                _ => {
                    let names: Vec<&str> = NAMED_KEYS.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "`{s}` is not a key: use one character, f1-f12, or {} with optional ctrl-, alt-, shift-",
                        names.join(", ")
                    ));
                }
            }
        };
        if mods.contains(KeyModifiers::SHIFT) {
            match code {
                KeyCode::Tab => {
                    code = KeyCode::BackTab;
                    mods.remove(KeyModifiers::SHIFT);
                }
                KeyCode::Char(c) if c.is_alphabetic() => {
                    code = KeyCode::Char(c.to_ascii_uppercase());
                    mods.remove(KeyModifiers::SHIFT);
                }
                _ => {}
            }
        }
        if let KeyCode::Char(c) = code
            && mods.contains(KeyModifiers::CONTROL)
        {
            code = KeyCode::Char(c.to_ascii_lowercase());
        }
        Ok(Key {
            code,
            mods,
            prefix: None,
        })
    }

    /// The key of a terminal event, normalised the way [`Key::parse`] normalises names.
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let mut code = ev.code;
        match code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) {
                    code = KeyCode::Char(c.to_ascii_lowercase());
                }
            }
            KeyCode::BackTab => mods.remove(KeyModifiers::SHIFT),
            _ => {}
        }
        Key {
            code,
            mods,
            prefix: None,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((code, mods)) = self.prefix {
            let first = Key {
                code,
                mods,
                prefix: None,
            };
            write!(f, "{first} ")?;
        }
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            code => match NAMED_KEYS.iter().find(|(_, c)| *c == code) {
                Some((n, _)) => f.write_str(n),
                None => write!(f, "{code:?}"),
            },
        }
    }
}

/// Keymaps shipped with setpoint, embedded at build time.
pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
    ("emacs", include_str!("../../keymaps/emacs.toml")),
];

/// The active bindings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keymap {
    pub name: String,
    bindings: BTreeMap<Mode, Vec<(Key, Command)>>,
}

/// The bindings one file sets: per mode, per command, the keys (possibly none: unbound).
type FileBindings = BTreeMap<Mode, BTreeMap<Command, Vec<Key>>>;

impl Keymap {
    /// Loads a keymap by name: shipped (or `default`) overlaid by `<config_dir>/keymaps/NAME.toml`.
    pub fn load(name: &str, config_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let user = config_dir
            .map(|d| d.join("keymaps").join(format!("{name}.toml")))
            .filter(|p| p.is_file());
        let shipped = SHIPPED.iter().find(|(n, _)| *n == name);
        let base = match (shipped, &user) {
            (Some((n, src)), _) => (*n, *src),
            (None, Some(_)) => SHIPPED[0],
            (None, None) => {
                let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
                return Err(ConfigError::whole_file(
                    Path::new(&format!("keymaps/{name}.toml")),
                    unknown_message("keymap", name, &names),
                ));
            }
        };
        let mut map = Keymap {
            name: name.to_owned(),
            bindings: BTreeMap::new(),
        };
        map.overlay(parse(
            Path::new(&format!("keymaps/{}.toml", base.0)),
            base.1,
        )?);
        if let Some(path) = user {
            let src = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::whole_file(&path, format!("cannot read: {e}")))?;
            map.overlay(parse(&path, &src)?);
        }
        Ok(map)
    }

    fn overlay(&mut self, file: FileBindings) {
        for (mode, commands) in file {
            let list = self.bindings.entry(mode).or_default();
            for (command, keys) in commands {
                list.retain(|(k, c)| *c != command && !keys.contains(k));
                list.extend(keys.into_iter().map(|k| (k, command)));
            }
            list.sort_by_key(|(k, c)| (*c, k.to_string()));
        }
    }

    /// The command a key runs in a mode: the mode's own bindings, then the global ones.
    pub fn lookup(&self, mode: Mode, key: &Key) -> Option<Command> {
        let find = |m: Mode| {
            self.bindings
                .get(&m)?
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, c)| *c)
        };
        find(mode).or_else(|| mode.fallbacks().iter().find_map(|&m| find(m)))
    }

    /// Whether `key` starts a two-key sequence bound in `mode` or in the modes it falls back to.
    pub fn is_prefix(&self, mode: Mode, key: &Key) -> bool {
        let starts = |m: Mode| {
            self.bindings.get(&m).is_some_and(|l| {
                l.iter()
                    .any(|(k, _)| k.prefix == Some((key.code, key.mods)))
            })
        };
        key.prefix.is_none() && (starts(mode) || mode.fallbacks().iter().any(|&m| starts(m)))
    }

    /// Keys that run `command` in `mode` (its own bindings, else those of the first mode it falls back to
    /// that binds it), for hints and help.
    pub fn keys_for(&self, mode: Mode, command: Command) -> Vec<Key> {
        let keys = |m: Mode| -> Vec<Key> {
            self.bindings
                .get(&m)
                .map(|l| {
                    l.iter()
                        .filter(|(_, c)| *c == command)
                        .map(|(k, _)| *k)
                        .collect()
                })
                .unwrap_or_default()
        };
        std::iter::once(mode)
            .chain(mode.fallbacks().iter().copied())
            .map(keys)
            .find(|k| !k.is_empty())
            .unwrap_or_default()
    }

    /// The first key of a command, displayed (`?`), or `None` when unbound.
    pub fn hint(&self, mode: Mode, command: Command) -> Option<String> {
        self.keys_for(mode, command).first().map(Key::to_string)
    }

    /// Every binding of a mode (not including global), for the help screen.
    pub fn bindings(&self, mode: Mode) -> &[(Key, Command)] {
        self.bindings.get(&mode).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Parses one keymap file, checking modes, commands, key names and duplicates, with FILE:LINE errors.
pub fn parse(file: &Path, src: &str) -> Result<FileBindings, ConfigError> {
    let tables: BTreeMap<String, Spanned<BTreeMap<String, Spanned<Value>>>> =
        toml::from_str(src).map_err(|e| ConfigError::from_toml(file, src, &e))?;
    let mut out: FileBindings = BTreeMap::new();
    for (mode_name, table) in &tables {
        let Some(mode) = Mode::ALL.iter().copied().find(|m| m.as_str() == mode_name) else {
            let names: Vec<&str> = Mode::ALL.iter().map(|m| m.as_str()).collect();
            return Err(ConfigError::at_span(
                file,
                src,
                &table.span(),
                unknown_message("mode", mode_name, &names),
            ));
        };
        let mut seen: std::collections::HashMap<Key, (Command, usize)> =
            std::collections::HashMap::new();
        // Check in file order so that "bound twice" points at the later line.
        let mut entries: Vec<(&String, &Spanned<Value>)> = table.get_ref().iter().collect();
        entries.sort_by_key(|(_, v)| v.span().start);
        for (name, value) in entries {
            let err = |msg: String| ConfigError::at_span(file, src, &value.span(), msg);
            let valid: Vec<&str> = Command::ALL
                .iter()
                .filter(|c| c.modes().contains(&mode))
                .map(|c| c.name())
                .collect();
            let Some(command) = Command::ALL
                .iter()
                .copied()
                .find(|c| c.name() == name && c.modes().contains(&mode))
            else {
                let what = if Command::ALL.iter().any(|c| c.name() == name) {
                    format!(
                        "command `{name}` cannot be bound in [{mode_name}]; commands of [{mode_name}]: {}",
                        valid.join(", ")
                    )
                } else {
                    format!(
                        "{} in [{mode_name}]",
                        unknown_message("command", name, &valid)
                    )
                };
                return Err(err(what));
            };
            let names: Vec<&str> = match value.get_ref() {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str().ok_or_else(|| {
                            err(format!("`{name}`: keys are strings like \"ctrl-d\""))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(err(format!(
                        "`{name}`: expected a key (\"q\") or a list of keys ([\"q\", \"ctrl-c\"])"
                    )));
                }
            };
            let mut keys = Vec::new();
            for n in names {
                let key = Key::parse(n).map_err(|m| err(format!("`{name}`: {m}")))?;
                let line = super::error::line_col(src, value.span().start).0;
                if let Some((other, other_line)) = seen.insert(key, (command, line)) {
                    return Err(err(format!(
                        "key `{key}` is bound twice in [{mode_name}]: to `{}` (line {other_line}) and to `{name}`",
                        other.name()
                    )));
                }
                keys.push(key);
            }
            out.entry(mode).or_default().insert(command, keys);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn every_shipped_keymap_parses_and_binds_the_essentials() {
        for (name, src) in SHIPPED {
            parse(Path::new(name), src).unwrap_or_else(|e| panic!("{name}: {e}"));
            let map = Keymap::load(name, None).unwrap();
            for (mode, command) in [
                (Mode::Global, Command::Quit),
                (Mode::Global, Command::Help),
                (Mode::Global, Command::Back),
                (Mode::Global, Command::Down),
                (Mode::Units, Command::Open),
                (Mode::Units, Command::Suspend),
                (Mode::History, Command::Rollback),
                (Mode::Dialog, Command::Confirm),
                (Mode::Dialog, Command::Cancel),
                (Mode::Input, Command::Submit),
                (Mode::Input, Command::Cancel),
            ] {
                assert!(
                    map.hint(mode, command).is_some(),
                    "{name}: {} unbound in {}",
                    command.name(),
                    mode.as_str()
                );
            }
        }
    }

    #[test]
    fn key_names() {
        assert_eq!(
            key("ctrl-C"),
            Key {
                code: KeyCode::Char('c'),
                mods: KeyModifiers::CONTROL,
                prefix: None,
            }
        );
        assert_eq!(key("shift-tab").code, KeyCode::BackTab);
        assert_eq!(
            key("G"),
            Key {
                code: KeyCode::Char('G'),
                mods: KeyModifiers::NONE,
                prefix: None,
            }
        );
        assert_eq!(key("shift-g"), key("G"));
        let seq = key("ctrl-x ctrl-c");
        assert_eq!(seq, key("ctrl-c").after(key("ctrl-x")));
        assert_eq!(seq.to_string(), "ctrl-x ctrl-c");
        assert_eq!(key("f5").code, KeyCode::F(5));
        assert_eq!(key("-").code, KeyCode::Char('-'));
        assert_eq!(key("ctrl--").code, KeyCode::Char('-'));
        assert_eq!(key("alt-<").to_string(), "alt-<");
        assert!(Key::parse("ctrl-").is_err());
        assert!(Key::parse("enterr").is_err());
        assert!(Key::parse("f13").is_err());
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&ev), key("G"));
    }

    #[test]
    fn mode_bindings_shadow_global_and_dialogs_do_not_fall_back() {
        let map = Keymap::load("default", None).unwrap();
        assert_eq!(map.lookup(Mode::Units, &key("q")), Some(Command::Quit));
        assert_eq!(map.lookup(Mode::Dialog, &key("q")), None);
    }

    #[test]
    fn compare_falls_back_to_the_diff_keys_then_global() {
        for (name, _) in SHIPPED {
            let map = Keymap::load(name, None).unwrap();
            for command in [Command::NextFile, Command::NextHunk, Command::Search] {
                let keys = map.keys_for(Mode::Compare, command);
                assert_eq!(keys, map.keys_for(Mode::Diff, command), "{name}");
                assert_eq!(map.lookup(Mode::Compare, &keys[0]), Some(command), "{name}");
            }
            let back = map.keys_for(Mode::Compare, Command::Back);
            assert_eq!(map.lookup(Mode::Compare, &back[0]), Some(Command::Back));
            for (mode, command) in [
                (Mode::Units, Command::Compare),
                (Mode::Compare, Command::CompareWith),
                (Mode::Compare, Command::SwapSides),
            ] {
                assert!(
                    map.hint(mode, command).is_some(),
                    "{name}: {}",
                    command.name()
                );
            }
        }
    }

    #[test]
    fn errors_name_line_and_what_is_wrong() {
        let e = parse(Path::new("k.toml"), "[units]\ndiff = \"d\"\nopen = \"d\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message
                .contains("key `d` is bound twice in [units]: to `diff` (line 2) and to `open`"),
            "{e}"
        );
        let e = parse(Path::new("k.toml"), "[units]\ndif = \"d\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("k.toml:2:7: unknown command `dif` (did you mean `diff`?)"),
            "{e}"
        );
        let e = parse(Path::new("k.toml"), "[global]\nquit = \"ctrl-qq\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("k.toml:2:8: `quit`: `ctrl-qq` is not a key"),
            "{e}"
        );
        let e = parse(Path::new("k.toml"), "[unit]\nopen = \"o\"\n").unwrap_err();
        assert!(
            e.message
                .contains("unknown mode `unit` (did you mean `units`?)"),
            "{e}"
        );
        let e = parse(Path::new("k.toml"), "[dialog]\nrollback = \"r\"\n").unwrap_err();
        assert!(e.message.contains("cannot be bound in [dialog]"), "{e}");
    }

    #[test]
    fn user_overlay_rebinds_and_unbinds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[units]\ndiff = \"o\"\nsuspend = []\n",
        )
        .unwrap();
        let map = Keymap::load("default", Some(dir.path())).unwrap();
        assert_eq!(map.lookup(Mode::Units, &key("o")), Some(Command::Diff));
        assert!(map.keys_for(Mode::Units, Command::Suspend).is_empty());
        assert_eq!(map.keys_for(Mode::Units, Command::Diff), vec![key("o")]);
        std::fs::write(
            dir.path().join("keymaps/mine.toml"),
            "[global]\nquit = \"x\"\n",
        )
        .unwrap();
        let mine = Keymap::load("mine", Some(dir.path())).unwrap();
        assert_eq!(mine.lookup(Mode::Units, &key("x")), Some(Command::Quit));
        assert_eq!(mine.lookup(Mode::Units, &key("enter")), Some(Command::Open));
        assert!(Keymap::load("nope", Some(dir.path())).is_err());
    }
}
