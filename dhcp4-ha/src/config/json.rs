//! A small position-aware JSON reader with Kea's extensions: `//`, `/* */` and `#` comments,
//! `<?include "path"?>` (resolved through an [`IncludeLoader`]), trailing commas (a warning, as
//! Kea gives), leading-dot floats (`.5`). Every value keeps its [`Span`].
//!
//! Bounded: nesting depth, include depth and count, and the total size of the text read.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use super::{ConfigError, ErrorKind, Warning};

/// Deepest nesting of maps and lists accepted.
pub const MAX_DEPTH: usize = 64;
/// Most bytes read over the main text and all includes together.
pub const MAX_TOTAL_BYTES: usize = 16 << 20;
/// Deepest chain of includes (Kea allows 10).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Most include directives processed in one read.
pub const MAX_INCLUDES: usize = 256;

/// Where a token or value sits: file name, first line and column, last line and column (all
/// 1-based, columns count bytes, as Kea's flex lexer does).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// File name as the caller or the include directive gave it.
    pub file: Arc<str>,
    /// First line.
    pub line: u32,
    /// First column.
    pub col: u32,
    /// Last line.
    pub end_line: u32,
    /// Last column (inclusive).
    pub end_col: u32,
}

impl Span {
    /// Kea's syntax-error form: `file:L.C-C`, `file:L.C` for one character, `file:L.C-L.C`
    /// across lines.
    pub fn range(&self) -> impl fmt::Display + '_ {
        Range(self)
    }

    /// Kea's element-position form: `file:L:C`.
    pub fn point(&self) -> impl fmt::Display + '_ {
        Point(self)
    }
}

struct Range<'a>(&'a Span);
impl fmt::Display for Range<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "{}:{}.{}", s.file, s.line, s.col)?;
        if s.end_line != s.line {
            write!(f, "-{}.{}", s.end_line, s.end_col)
        } else if s.end_col != s.col {
            write!(f, "-{}", s.end_col)
        } else {
            Ok(())
        }
    }
}

struct Point<'a>(&'a Span);
impl fmt::Display for Point<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0.file, self.0.line, self.0.col)
    }
}

/// Resolves `<?include "path"?>`: returns the text of `path`, or why it cannot.
pub trait IncludeLoader {
    /// The text named by `path`, or an error message.
    fn load(&mut self, path: &str) -> Result<String, String>;
}

/// Refuses every include.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoIncludes;

impl IncludeLoader for NoIncludes {
    fn load(&mut self, _path: &str) -> Result<String, String> {
        Err("includes are disabled".into())
    }
}

impl IncludeLoader for alloc::collections::BTreeMap<String, String> {
    fn load(&mut self, path: &str) -> Result<String, String> {
        self.get(path).cloned().ok_or_else(|| "no such file".into())
    }
}

/// A JSON value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The value.
    pub kind: Kind,
    /// Where it is (for a map or list: its opening bracket).
    pub span: Span,
}

/// A map entry: the key with its position, and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the quoted key is.
    pub key_span: Span,
    /// The value.
    pub value: Value,
}

/// The kinds of JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (Kea's are 64-bit signed).
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// A string, unescaped.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A map, in document order (keys are unique).
    Map(Vec<Entry>, Span),
}

impl Kind {
    /// Kea's name of the token that starts this value (`constant string`, `integer`, …).
    pub fn token_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Int(_) => "integer",
            Self::Float(_) => "floating point",
            Self::Str(_) => "constant string",
            Self::List(_) => "[",
            Self::Map(..) => "{",
        }
    }
}

impl Value {
    /// The entries, if a map.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(e, _) => Some(e),
            _ => None,
        }
    }

    /// The value of `key`, if a map holding it.
    pub fn get(&self, key: &str) -> Option<&Self> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// The string, if a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The boolean, if a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if a list.
    pub fn as_list(&self) -> Option<&[Self]> {
        match &self.kind {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Colon,
    Comma,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Eof,
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Self::LBrace => "{",
            Self::RBrace => "}",
            Self::LBracket => "[",
            Self::RBracket => "]",
            Self::Colon => "\":\"",
            Self::Comma => "\",\"",
            Self::Str(_) => "constant string",
            Self::Int(_) => "integer",
            Self::Float(_) => "floating point",
            Self::Bool(_) => "boolean",
            Self::Null => "null",
            Self::Eof => "end of file",
        }
    }
}

struct Source {
    name: Arc<str>,
    text: Vec<u8>,
    at: usize,
    line: u32,
    col: u32,
}

struct Lexer<'l> {
    stack: Vec<Source>,
    loader: &'l mut dyn IncludeLoader,
    total: usize,
    includes: usize,
}

fn err(kind: ErrorKind, span: Span, message: impl Into<String>) -> ConfigError {
    ConfigError {
        kind,
        message: message.into(),
        span: Some(span),
        key: None,
    }
}

impl Lexer<'_> {
    fn top(&mut self) -> &mut Source {
        // The stack is never empty while lexing: the main source is popped never.
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    fn peek_byte(&mut self) -> Option<u8> {
        let s = self.top();
        s.text.get(s.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let s = self.top();
        let b = *s.text.get(s.at)?;
        s.at += 1;
        if b == b'\n' {
            s.line += 1;
            s.col = 1;
        } else {
            s.col += 1;
        }
        Some(b)
    }

    fn here(&mut self) -> Span {
        let s = self.top();
        Span {
            file: s.name.clone(),
            line: s.line,
            col: s.col,
            end_line: s.line,
            end_col: s.col,
        }
    }

    fn starts_with(&mut self, p: &[u8]) -> bool {
        let s = self.top();
        s.text[s.at..].starts_with(p)
    }

    /// Skips white space and comments; resolves includes. Returns the span of the next token's
    /// first byte.
    fn skip(&mut self) -> Result<Span, ConfigError> {
        loop {
            match self.peek_byte() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'#') => self.skip_line(),
                Some(b'/') if self.starts_with(b"//") => self.skip_line(),
                Some(b'/') if self.starts_with(b"/*") => {
                    let start = self.here();
                    self.bump();
                    self.bump();
                    loop {
                        if self.starts_with(b"*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        if self.bump().is_none() {
                            return Err(err(
                                ErrorKind::Syntax,
                                start.clone(),
                                alloc::format!("Comment not closed. (/* in line {}", start.line),
                            ));
                        }
                    }
                }
                Some(b'<') if self.starts_with(b"<?include") => self.include()?,
                Some(_) => return Ok(self.here()),
                None => {
                    if self.stack.len() > 1 {
                        self.stack.pop();
                    } else {
                        return Ok(self.here());
                    }
                }
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(b) = self.peek_byte() {
            if b == b'\n' {
                break;
            }
            self.bump();
        }
    }

    fn include(&mut self) -> Result<(), ConfigError> {
        let mut span = self.here();
        for _ in 0..9 {
            self.bump();
        }
        while matches!(self.peek_byte(), Some(b' ' | b'\t')) {
            self.bump();
        }
        if self.peek_byte() != Some(b'"') {
            return Err(err(ErrorKind::Syntax, span, "Invalid include directive"));
        }
        self.bump();
        let mut path = Vec::new();
        loop {
            match self.bump() {
                Some(b'"') => break,
                Some(b'\n') | None => {
                    return Err(err(ErrorKind::Syntax, span, "Invalid include directive"));
                }
                Some(b) => path.push(b),
            }
        }
        while matches!(self.peek_byte(), Some(b' ' | b'\t')) {
            self.bump();
        }
        if !self.starts_with(b"?>") {
            return Err(err(ErrorKind::Syntax, span, "Invalid include directive"));
        }
        self.bump();
        let end = self.here();
        self.bump();
        span.end_line = end.line;
        span.end_col = end.col;
        let path = String::from_utf8_lossy(&path).into_owned();
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(err(
                ErrorKind::Limit,
                span,
                alloc::format!("Too many nested include (max {MAX_INCLUDE_DEPTH})"),
            ));
        }
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            return Err(err(
                ErrorKind::Limit,
                span,
                alloc::format!("more than {MAX_INCLUDES} include directives"),
            ));
        }
        let text = self.loader.load(&path).map_err(|why| {
            err(
                ErrorKind::Include,
                span.clone(),
                alloc::format!("Can't open include file {path} ({why})"),
            )
        })?;
        self.total = self.total.saturating_add(text.len());
        if self.total > MAX_TOTAL_BYTES {
            return Err(err(
                ErrorKind::Limit,
                span,
                alloc::format!("configuration larger than {MAX_TOTAL_BYTES} bytes"),
            ));
        }
        self.stack.push(Source {
            name: Arc::from(path.as_str()),
            text: text.into_bytes(),
            at: 0,
            line: 1,
            col: 1,
        });
        Ok(())
    }

    /// The next token with its span (first to last byte).
    fn next(&mut self) -> Result<(Tok, Span), ConfigError> {
        let mut span = self.skip()?;
        let Some(b) = self.peek_byte() else {
            return Ok((Tok::Eof, span));
        };
        let tok = match b {
            b'{' => Tok::LBrace,
            b'}' => Tok::RBrace,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b':' => Tok::Colon,
            b',' => Tok::Comma,
            b'"' => return self.string(span),
            b'-' | b'.' | b'0'..=b'9' => return self.number(span),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let mut word = Vec::new();
                let mut last = span.clone();
                while let Some(c @ (b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'0'..=b'9')) =
                    self.peek_byte()
                {
                    last = self.here();
                    word.push(c);
                    self.bump();
                }
                span.end_line = last.line;
                span.end_col = last.col;
                return match &word[..] {
                    b"true" => Ok((Tok::Bool(true), span)),
                    b"false" => Ok((Tok::Bool(false), span)),
                    b"null" => Ok((Tok::Null, span)),
                    _ => Err(err(
                        ErrorKind::Syntax,
                        span,
                        alloc::format!("Invalid character: {}", char::from(b)),
                    )),
                };
            }
            _ => {
                let c = self.char_at();
                return Err(err(
                    ErrorKind::Syntax,
                    span,
                    alloc::format!("Invalid character: {c}"),
                ));
            }
        };
        self.bump();
        Ok((tok, span))
    }

    fn char_at(&mut self) -> char {
        let s = self.top();
        let rest = &s.text[s.at..s.text.len().min(s.at + 4)];
        match core::str::from_utf8(rest) {
            Ok(t) => t.chars().next().unwrap_or('?'),
            Err(e) => core::str::from_utf8(&rest[..e.valid_up_to()])
                .ok()
                .and_then(|t| t.chars().next())
                .unwrap_or(char::REPLACEMENT_CHARACTER),
        }
    }

    fn string(&mut self, mut span: Span) -> Result<(Tok, Span), ConfigError> {
        self.bump();
        let mut out: Vec<u8> = Vec::new();
        loop {
            let here = self.here();
            let Some(b) = self.bump() else {
                return Err(err(
                    ErrorKind::Syntax,
                    span,
                    "Unterminated string: missing closing quote",
                ));
            };
            match b {
                b'"' => {
                    span.end_line = here.line;
                    span.end_col = here.col;
                    break;
                }
                b'\\' => {
                    let e = self.bump();
                    match e {
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'/') => out.push(b'/'),
                        Some(b'b') => out.push(8),
                        Some(b'f') => out.push(12),
                        Some(b'n') => out.push(b'\n'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'u') => {
                            let mut v = 0u32;
                            for _ in 0..4 {
                                let d = self.bump().and_then(|c| char::from(c).to_digit(16));
                                let Some(d) = d else {
                                    return Err(err(
                                        ErrorKind::Syntax,
                                        here,
                                        "Bad escape in string: bad \\u escape",
                                    ));
                                };
                                v = v * 16 + d;
                            }
                            // Surrogates are not joined (Kea neither); they become U+FFFD.
                            let c = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                            let mut buf = [0; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            return Err(err(ErrorKind::Syntax, here, "Bad escape in string"));
                        }
                    }
                }
                b'\n' => {
                    return Err(err(
                        ErrorKind::Syntax,
                        span,
                        "Invalid control in string (newline)",
                    ));
                }
                c if c < 0x20 => {
                    return Err(err(ErrorKind::Syntax, here, "Invalid control in string"));
                }
                c => out.push(c),
            }
        }
        let s = String::from_utf8(out)
            .map_err(|_| err(ErrorKind::Syntax, span.clone(), "Invalid UTF-8 in string"))?;
        Ok((Tok::Str(s), span))
    }

    fn number(&mut self, mut span: Span) -> Result<(Tok, Span), ConfigError> {
        let mut text = String::new();
        let mut last = span.clone();
        let mut float = false;
        while let Some(c @ (b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) = self.peek_byte() {
            if matches!(c, b'.' | b'e' | b'E') {
                float = true;
            }
            if matches!(c, b'+' | b'-') && !text.is_empty() && !text.ends_with(['e', 'E']) {
                break;
            }
            if text.len() > 64 {
                break;
            }
            last = self.here();
            text.push(char::from(c));
            self.bump();
        }
        span.end_line = last.line;
        span.end_col = last.col;
        let bad = || {
            err(
                ErrorKind::Syntax,
                span.clone(),
                alloc::format!("Failed to convert {text} to a number"),
            )
        };
        if !text.bytes().any(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if float {
            let t = if let Some(rest) = text.strip_prefix("-.") {
                alloc::format!("-0.{rest}")
            } else {
                text.clone()
            };
            let v: f64 = t
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(bad)?;
            Ok((Tok::Float(v), span))
        } else {
            let v: i64 = text.parse().map_err(|_| bad())?;
            Ok((Tok::Int(v), span))
        }
    }
}

/// A parsed document and the warnings its syntax gave (extraneous commas).
#[derive(Debug)]
pub struct Document {
    /// The top-level value.
    pub root: Value,
    /// Syntax warnings.
    pub warnings: Vec<Warning>,
}

/// Parses `text` (named `file` in positions) as one JSON value followed by the end of input.
pub fn parse(
    text: &str,
    file: &str,
    loader: &mut dyn IncludeLoader,
) -> Result<Document, ConfigError> {
    let name: Arc<str> = Arc::from(file);
    if text.len() > MAX_TOTAL_BYTES {
        return Err(ConfigError {
            kind: ErrorKind::Limit,
            message: alloc::format!("configuration larger than {MAX_TOTAL_BYTES} bytes"),
            span: None,
            key: None,
        });
    }
    let mut p = Parser {
        lx: Lexer {
            stack: alloc::vec![Source {
                name,
                text: text.as_bytes().to_vec(),
                at: 0,
                line: 1,
                col: 1,
            }],
            loader,
            total: text.len(),
            includes: 0,
        },
        ahead: None,
        warnings: Vec::new(),
    };
    let root = p.value(0, "toplevel")?;
    let (tok, span) = p.next()?;
    if tok != Tok::Eof {
        return Err(err(
            ErrorKind::Syntax,
            span,
            alloc::format!("syntax error, unexpected {}", tok.name()),
        ));
    }
    Ok(Document {
        root,
        warnings: p.warnings,
    })
}

struct Parser<'l> {
    lx: Lexer<'l>,
    ahead: Option<(Tok, Span)>,
    warnings: Vec<Warning>,
}

fn unexpected(tok: &Tok, span: Span, expecting: &str) -> ConfigError {
    let mut m = alloc::format!("syntax error, unexpected {}", tok.name());
    if !expecting.is_empty() {
        m.push_str(", expecting ");
        m.push_str(expecting);
    }
    err(ErrorKind::Syntax, span, m)
}

impl Parser<'_> {
    fn next(&mut self) -> Result<(Tok, Span), ConfigError> {
        match self.ahead.take() {
            Some(t) => Ok(t),
            None => self.lx.next(),
        }
    }

    fn peek(&mut self) -> Result<&Tok, ConfigError> {
        if self.ahead.is_none() {
            self.ahead = Some(self.lx.next()?);
        }
        match &self.ahead {
            Some((t, _)) => Ok(t),
            None => Ok(&Tok::Eof),
        }
    }

    fn extraneous_comma(&mut self, span: Span) {
        self.warnings.push(Warning {
            span,
            message: "Extraneous comma. A piece of configuration may have been omitted.".into(),
            key: None,
        });
    }

    /// `ctx` is the key of the enclosing map entry (or of the list holding this value).
    fn value(&mut self, depth: usize, ctx: &str) -> Result<Value, ConfigError> {
        let (tok, span) = self.next()?;
        let kind = match tok {
            Tok::Str(s) => Kind::Str(s),
            Tok::Int(i) => Kind::Int(i),
            Tok::Float(f) => Kind::Float(f),
            Tok::Bool(b) => Kind::Bool(b),
            Tok::Null => Kind::Null,
            Tok::LBrace | Tok::LBracket if depth >= MAX_DEPTH => {
                return Err(err(
                    ErrorKind::Limit,
                    span,
                    alloc::format!("nesting deeper than {MAX_DEPTH}"),
                ));
            }
            Tok::LBrace => return self.map(span, depth + 1, ctx),
            Tok::LBracket => return self.list(span, depth + 1, ctx),
            t => return Err(unexpected(&t, span, "")),
        };
        Ok(Value { kind, span })
    }

    fn map(&mut self, open: Span, depth: usize, ctx: &str) -> Result<Value, ConfigError> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let (tok, span) = self.next()?;
            let (key, key_span) = match tok {
                Tok::RBrace if entries.is_empty() => {
                    return Ok(Value {
                        kind: Kind::Map(entries, span),
                        span: open,
                    });
                }
                Tok::Str(k) => (k, span),
                t => return Err(unexpected(&t, span, "constant string or }")),
            };
            let (tok, span) = self.next()?;
            if tok != Tok::Colon {
                return Err(unexpected(&tok, span, "\":\""));
            }
            let value = self.value(depth, &key)?;
            if let Some(prev) = entries.iter().find(|e| e.key == key) {
                return Err(ConfigError {
                    kind: ErrorKind::Duplicate,
                    message: alloc::format!(
                        "duplicate {key} entries in {ctx} map (previous at {})",
                        prev.value.span.point()
                    ),
                    span: Some(key_span),
                    key: Some(key),
                });
            }
            entries.push(Entry {
                key,
                key_span,
                value,
            });
            let (tok, span) = self.next()?;
            match tok {
                Tok::RBrace => {
                    return Ok(Value {
                        kind: Kind::Map(entries, span),
                        span: open,
                    });
                }
                Tok::Comma => {
                    if *self.peek()? == Tok::RBrace {
                        self.extraneous_comma(span);
                        let (_, close) = self.next()?;
                        return Ok(Value {
                            kind: Kind::Map(entries, close),
                            span: open,
                        });
                    }
                }
                t => return Err(unexpected(&t, span, "\",\" or }")),
            }
        }
    }

    fn list(&mut self, open: Span, depth: usize, ctx: &str) -> Result<Value, ConfigError> {
        let mut items = Vec::new();
        if *self.peek()? == Tok::RBracket {
            self.next()?;
            return Ok(Value {
                kind: Kind::List(items),
                span: open,
            });
        }
        loop {
            items.push(self.value(depth, ctx)?);
            let (tok, span) = self.next()?;
            match tok {
                Tok::RBracket => break,
                Tok::Comma => {
                    if *self.peek()? == Tok::RBracket {
                        self.extraneous_comma(span);
                        self.next()?;
                        break;
                    }
                }
                t => return Err(unexpected(&t, span, "\",\" or ]")),
            }
        }
        Ok(Value {
            kind: Kind::List(items),
            span: open,
        })
    }
}

impl fmt::Display for Value {
    /// Compact JSON (for `config-get` style output and messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Null => f.write_str("null"),
            Kind::Bool(b) => write!(f, "{b}"),
            Kind::Int(i) => write!(f, "{i}"),
            Kind::Float(x) => write!(f, "{x:?}"),
            Kind::Str(s) => write_json_str(f, s),
            Kind::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Kind::Map(m, _) => {
                f.write_str("{")?;
                for (i, e) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_json_str(f, &e.key)?;
                    write!(f, ":{}", e.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Span {
    /// A span for messages about a whole input (no position known).
    pub fn start_of(file: &str) -> Self {
        Self {
            file: Arc::from(file),
            line: 1,
            col: 1,
            end_line: 1,
            end_col: 1,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.range())
    }
}
