//! Themes as data: semantic style keys (`status.failed`, `diff.added`) read from TOML files.
//!
//! Shipped themes are embedded; a user file of the same name in `<config>/themes/` overlays one key at a
//! time. Every theme falls back to `default` for keys it leaves out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use toml::{Spanned, Value};

use super::{ConfigError, error::unknown_message};

/// Every semantic key a view may ask for.
pub const KEYS: &[&str] = &[
    "text",
    "muted",
    "title",
    "border",
    "border.focused",
    "header",
    "selection",
    "hint.key",
    "hint.text",
    "badge.read_only",
    "badge.stale",
    "badge.held",
    "badge.context",
    "status.ready",
    "status.progressing",
    "status.failed",
    "status.stalled",
    "status.suspended",
    "status.unknown",
    "drift",
    "diff.added",
    "diff.removed",
    "diff.added_word",
    "diff.removed_word",
    "diff.hunk",
    "diff.context",
    "diff.match",
    "history.applied",
    "history.last_good",
    "history.failed",
    "history.pinned",
    "dialog.border",
    "dialog.danger",
    "prompt",
    "message.ok",
    "message.error",
];

/// Themes shipped with setpoint, embedded at build time.
pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    (
        "solarized-dark",
        include_str!("../../themes/solarized-dark.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorDepth {
    /// `NO_COLOR` or a dumb terminal: modifiers only.
    None,
    Ansi16,
    Ansi256,
    TrueColor,
}

impl ColorDepth {
    /// From `NO_COLOR`, `COLORTERM` and `TERM`; unknown terminals get 16 colours.
    pub fn detect(env: super::Env<'_>) -> Self {
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorDepth::None;
        }
        let term = env("TERM").unwrap_or_default();
        if term == "dumb" {
            return ColorDepth::None;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            ColorDepth::TrueColor
        } else if term.contains("256color") {
            ColorDepth::Ansi256
        } else {
            ColorDepth::Ansi16
        }
    }
}

/// A resolved theme: a style for every key of [`KEYS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<&'static str, Style>,
}

impl Theme {
    /// The style for a semantic key; unknown keys (a programming error) get the plain style.
    pub fn style(&self, key: &str) -> Style {
        self.styles.get(key).copied().unwrap_or_default()
    }

    /// Loads a theme by name: the shipped file (or `default` when no shipped file has that name) overlaid
    /// by `<config_dir>/themes/NAME.toml` when it exists, everything over the default theme.
    pub fn load(
        name: &str,
        config_dir: Option<&Path>,
        depth: ColorDepth,
    ) -> Result<Self, ConfigError> {
        let user = config_dir
            .map(|d| d.join("themes").join(format!("{name}.toml")))
            .filter(|p| p.is_file());
        let shipped = SHIPPED.iter().find(|(n, _)| *n == name);
        if shipped.is_none() && user.is_none() {
            let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError::whole_file(
                Path::new(&format!("themes/{name}.toml")),
                format!(
                    "{}; or create {}",
                    unknown_message("theme", name, &names),
                    config_dir
                        .map(|d| d
                            .join("themes")
                            .join(format!("{name}.toml"))
                            .display()
                            .to_string())
                        .unwrap_or_else(|| "a file in your config dir".into())
                ),
            ));
        }
        let mut styles = parse_shipped("default")?;
        if let Some((n, _)) = shipped.filter(|(n, _)| *n != "default") {
            styles.extend(parse_shipped(n)?);
        }
        if let Some(path) = user {
            let src = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::whole_file(&path, format!("cannot read: {e}")))?;
            styles.extend(parse(&path, &src)?);
        }
        let styles = styles
            .into_iter()
            .map(|(k, s)| (k, adapt(s, depth)))
            .collect();
        Ok(Self {
            name: name.to_owned(),
            styles,
        })
    }

    /// The default theme at a colour depth, without reading any file.
    pub fn builtin(depth: ColorDepth) -> Self {
        match Self::load("default", None, depth) {
            Ok(t) => t,
            Err(_) => Self {
                name: "default".into(),
                styles: BTreeMap::new(),
            },
        }
    }
}

fn parse_shipped(name: &str) -> Result<BTreeMap<&'static str, Style>, ConfigError> {
    let src = SHIPPED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or("");
    parse(&PathBuf::from(format!("themes/{name}.toml")), src)
}

/// Parses one theme file into the styles it sets.
pub fn parse(file: &Path, src: &str) -> Result<BTreeMap<&'static str, Style>, ConfigError> {
    let groups: BTreeMap<String, Spanned<BTreeMap<String, Spanned<Value>>>> =
        toml::from_str(src).map_err(|e| ConfigError::from_toml(file, src, &e))?;
    let mut out = BTreeMap::new();
    for (group, entries) in &groups {
        for (key, value) in entries.get_ref() {
            let full = format!("{group}.{key}");
            let lookup = if group == "base" {
                key.as_str()
            } else {
                full.as_str()
            };
            let Some(known) = KEYS.iter().find(|k| **k == lookup) else {
                let all: Vec<&str> = KEYS.to_vec();
                return Err(ConfigError::at_span(
                    file,
                    src,
                    &value.span(),
                    unknown_message("theme key", &display_lookup(group, key), &all),
                ));
            };
            let style = parse_style(value.get_ref()).map_err(|m| {
                ConfigError::at_span(file, src, &value.span(), format!("`{lookup}`: {m}"))
            })?;
            out.insert(*known, style);
        }
    }
    Ok(out)
}

/// Keys without a dot live in the `[base]` table.
fn display_lookup(group: &str, key: &str) -> String {
    if group == "base" {
        key.to_owned()
    } else {
        format!("{group}.{key}")
    }
}

fn parse_style(v: &Value) -> Result<Style, String> {
    match v {
        Value::String(s) => Ok(Style::new().fg(parse_color(s)?)),
        Value::Table(t) => {
            let mut style = Style::new();
            for (k, v) in t {
                match (k.as_str(), v) {
                    ("fg", v) => style = style.fg(color_value(v)?),
                    ("bg", v) => style = style.bg(color_value(v)?),
                    (m, Value::Boolean(on)) if modifier(m).is_some() => {
                        if let Some(m) = modifier(m).filter(|_| *on) {
                            style = style.add_modifier(m);
                        }
                    }
                    (other, _) => {
                        return Err(unknown_message(
                            "style field",
                            other,
                            &["fg", "bg", "bold", "dim", "italic", "underline", "reversed"],
                        ));
                    }
                }
            }
            Ok(style)
        }
        _ => Err("expected a colour name or a table like { fg = \"red\", bold = true }".into()),
    }
}

fn modifier(name: &str) -> Option<Modifier> {
    Some(match name {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underline" => Modifier::UNDERLINED,
        "reversed" => Modifier::REVERSED,
        _ => return None,
    })
}

fn color_value(v: &Value) -> Result<Color, String> {
    match v {
        Value::String(s) => parse_color(s),
        Value::Integer(i) => u8::try_from(*i)
            .map(Color::Indexed)
            .map_err(|_| format!("colour index {i} is not 0-255")),
        _ => Err("a colour is a name, \"#rrggbb\" or an index 0-255".into()),
    }
}

const NAMED: &[(&str, Color)] = &[
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("lightred", Color::LightRed),
    ("lightgreen", Color::LightGreen),
    ("lightyellow", Color::LightYellow),
    ("lightblue", Color::LightBlue),
    ("lightmagenta", Color::LightMagenta),
    ("lightcyan", Color::LightCyan),
    ("white", Color::White),
];

fn parse_color(s: &str) -> Result<Color, String> {
    let lower = s.trim().to_ascii_lowercase().replace(['-', '_', ' '], "");
    if let Some(hex) = lower.strip_prefix('#') {
        if hex.len() == 6
            && let Ok(v) = u32::from_str_radix(hex, 16)
        {
            return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
        }
        return Err(format!("`{s}` is not a #rrggbb colour"));
    }
    let lower = lower.replace("grey", "gray");
    NAMED
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            let names: Vec<&str> = NAMED.iter().map(|(n, _)| *n).collect();
            format!(
                "{} (or \"#rrggbb\", or an index 0-255)",
                unknown_message("colour", s, &names)
            )
        })
}

/// The xterm values of the 16 ANSI colours, for mapping RGB down.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[i as usize].1,
        16..=231 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let g = 8 + (i - 232) * 10;
            (g, g, g)
        }
    }
}

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    d(a.0, b.0).pow(2) + d(a.1, b.1).pow(2) + d(a.2, b.2).pow(2)
}

fn nearest16(rgb: (u8, u8, u8)) -> Color {
    ANSI16
        .iter()
        .min_by_key(|(_, v)| dist(*v, rgb))
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
}

fn nearest256(rgb: (u8, u8, u8)) -> Color {
    (16..=255u8)
        .min_by_key(|i| dist(indexed_rgb(*i), rgb))
        .map(Color::Indexed)
        .unwrap_or(Color::Reset)
}

fn adapt_color(c: Color, depth: ColorDepth) -> Option<Color> {
    match (depth, c) {
        (ColorDepth::None, _) => None,
        (ColorDepth::TrueColor, c) => Some(c),
        (ColorDepth::Ansi256, Color::Rgb(r, g, b)) => Some(nearest256((r, g, b))),
        (ColorDepth::Ansi16, Color::Rgb(r, g, b)) => Some(nearest16((r, g, b))),
        (ColorDepth::Ansi16, Color::Indexed(i)) => Some(nearest16(indexed_rgb(i))),
        (_, c) => Some(c),
    }
}

/// Lowers a style to what the terminal can show; without colour, selection stays visible as reverse video.
pub fn adapt(style: Style, depth: ColorDepth) -> Style {
    let mut out = style;
    out.fg = style.fg.and_then(|c| adapt_color(c, depth));
    out.bg = style.bg.and_then(|c| adapt_color(c, depth));
    if depth == ColorDepth::None && style.bg.is_some() {
        out = out.add_modifier(Modifier::REVERSED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_parses_and_default_covers_every_key() {
        for (name, src) in SHIPPED {
            let styles = parse(Path::new(name), src).unwrap_or_else(|e| panic!("{name}: {e}"));
            if *name == "default" {
                for k in KEYS {
                    assert!(styles.contains_key(k), "default theme lacks {k}");
                }
            }
            let t = Theme::load(name, None, ColorDepth::TrueColor).unwrap();
            assert_eq!(t.styles.len(), KEYS.len());
        }
    }

    #[test]
    fn default_uses_only_16_colours() {
        let styles = parse(Path::new("default"), SHIPPED[0].1).unwrap();
        for (k, s) in styles {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(
                    !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                    "{k} uses {c:?}"
                );
            }
        }
    }

    #[test]
    fn bad_theme_errors_name_line_and_key() {
        let e = parse(
            Path::new("t.toml"),
            "[status]\nready = \"green\"\nfaild = \"red\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message
                .contains("unknown theme key `status.faild` (did you mean `status.failed`?)"),
            "{e}"
        );
        let e = parse(Path::new("t.toml"), "[diff]\nadded = \"grean\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "t.toml:2:9: `diff.added`: unknown colour `grean` (did you mean `green`?)"
            ),
            "{e}"
        );
        let e = parse(
            Path::new("t.toml"),
            "[diff]\nadded = { fg = \"red\", blink = true }\n",
        )
        .unwrap_err();
        assert!(e.message.contains("style field `blink`"), "{e}");
    }

    #[test]
    fn depth_adaptation() {
        let s = Style::new()
            .fg(Color::Rgb(220, 50, 47))
            .bg(Color::Indexed(236));
        let a = adapt(s, ColorDepth::Ansi16);
        assert!(matches!(a.fg, Some(Color::Red | Color::LightRed)));
        assert_eq!(a.bg, Some(Color::Black));
        assert!(matches!(
            adapt(s, ColorDepth::Ansi256).fg,
            Some(Color::Indexed(_))
        ));
        let none = adapt(s, ColorDepth::None);
        assert_eq!((none.fg, none.bg), (None, None));
        assert!(none.add_modifier.contains(Modifier::REVERSED));
        let env = |k: &str| match k {
            "NO_COLOR" => Some("1".to_owned()),
            _ => None,
        };
        assert_eq!(ColorDepth::detect(&env), ColorDepth::None);
        let env = |k: &str| (k == "TERM").then(|| "xterm-256color".to_owned());
        assert_eq!(ColorDepth::detect(&env), ColorDepth::Ansi256);
    }

    #[test]
    fn user_file_overlays_shipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/mono.toml"),
            "[status]\nfailed = { fg = \"#ff0000\" }\n",
        )
        .unwrap();
        let t = Theme::load("mono", Some(dir.path()), ColorDepth::TrueColor).unwrap();
        assert_eq!(t.style("status.failed").fg, Some(Color::Rgb(255, 0, 0)));
        let e = Theme::load("nope", Some(dir.path()), ColorDepth::TrueColor).unwrap_err();
        assert!(e.message.contains("unknown theme `nope`"), "{e}");
    }
}
