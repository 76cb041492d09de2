//! From lexed lines to a tree of statements: `include`, `@id` conditional lines, `$NAME`
//! parameters, and `{ … }` blocks (brace on the keyword's line or on the next one).

use std::collections::HashMap;

use super::error::{ConfigError, ErrorKind, Position, Warning};
use super::lexer::{Spanned, Tok, lex};
use super::{Includes, Options};

/// Deepest `include` nesting accepted.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 8;
/// Largest configuration (all files together) accepted, in bytes.
pub(crate) const MAX_TOTAL_BYTES: usize = 16 << 20;
/// Deepest block nesting accepted.
const MAX_BLOCK_DEPTH: usize = 16;

/// A statement: a keyword, its arguments, and an optional block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stmt {
    pub(crate) keyword: String,
    pub(crate) pos: Position,
    pub(crate) args: Vec<(String, Position)>,
    pub(crate) block: Option<Vec<Self>>,
}

impl Stmt {
    /// The words of the statement, keyword first.
    pub(crate) fn words(&self) -> impl Iterator<Item = (&str, &Position)> {
        core::iter::once((self.keyword.as_str(), &self.pos))
            .chain(self.args.iter().map(|(a, p)| (a.as_str(), p)))
    }
}

enum Item {
    Tok(Spanned),
    Eol,
}

struct Pre<'a> {
    includes: &'a mut dyn Includes,
    options: &'a Options,
    params: HashMap<String, String>,
    total: usize,
    items: Vec<Item>,
    warnings: &'a mut Vec<Warning>,
}

impl Pre<'_> {
    fn file(&mut self, text: &str, name: &str, depth: usize) -> Result<(), ConfigError> {
        self.total += text.len();
        if self.total > MAX_TOTAL_BYTES {
            return Err(ConfigError::new(
                Position {
                    file: name.to_owned(),
                    line: 1,
                    column: 1,
                },
                ErrorKind::TooLarge(MAX_TOTAL_BYTES),
            ));
        }
        for mut line in lex(text, name)? {
            // Conditional configuration: `@id` keeps the line only for that config id (`-i id`),
            // `@^id` keeps it for every other id.
            if let Tok::Word(w) = &line[0].tok
                && let Some(cond) = w.strip_prefix('@')
            {
                let id = self.options.config_id.as_deref();
                let keep = match cond.strip_prefix('^') {
                    Some(not) => id != Some(not),
                    None => id == Some(cond),
                };
                if !keep {
                    continue;
                }
                line.remove(0);
                if line.is_empty() {
                    continue;
                }
            }
            // Parameter definition: `$NAME=value …`.
            if let Tok::Word(w) = &line[0].tok
                && let Some(def) = w.strip_prefix('$')
                && let Some((k, v)) = def.split_once('=')
            {
                let mut value = v.to_owned();
                for t in &line[1..] {
                    if let Tok::Word(w) = &t.tok {
                        if !value.is_empty() {
                            value.push(' ');
                        }
                        value.push_str(w);
                    }
                }
                self.params.insert(k.to_owned(), value);
                continue;
            }
            for t in &mut line {
                if let Tok::Word(w) = &mut t.tok
                    && w.contains('$')
                {
                    *w = self.substitute(w);
                }
            }
            if matches!(&line[0].tok, Tok::Word(w) if w == "include") {
                let pos = line[0].pos.clone();
                let Some(Spanned {
                    tok: Tok::Word(pattern),
                    ..
                }) = line.get(1)
                else {
                    return Err(ConfigError::new(
                        pos,
                        ErrorKind::MissingValue {
                            keyword: "include".into(),
                            expected: "a file name or pattern",
                        },
                    ));
                };
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(ConfigError::new(
                        pos,
                        ErrorKind::IncludeDepth(MAX_INCLUDE_DEPTH),
                    ));
                }
                let files = self.includes.include(pattern, name).map_err(|reason| {
                    ConfigError::new(
                        pos.clone(),
                        ErrorKind::Include {
                            pattern: pattern.clone(),
                            reason,
                        },
                    )
                })?;
                if files.is_empty() {
                    self.warnings.push(Warning {
                        pos: pos.clone(),
                        message: format!("include {pattern}: no file matches"),
                    });
                }
                for (fname, text) in files {
                    self.file(&text, &fname, depth + 1)?;
                }
                continue;
            }
            self.items.extend(line.into_iter().map(Item::Tok));
            self.items.push(Item::Eol);
        }
        Ok(())
    }

    fn substitute(&self, w: &str) -> String {
        let mut out = String::with_capacity(w.len());
        let mut rest = w;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                match b.find('}') {
                    Some(j) => (&b[..j], &b[j + 1..]),
                    None => ("", after),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            match self.params.get(name) {
                Some(v) if !name.is_empty() => out.push_str(v),
                _ => {
                    out.push('$');
                    rest = after;
                    continue;
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        out
    }
}

/// Reads the main file and its includes into a tree of statements.
pub(crate) fn build(
    text: &str,
    name: &str,
    includes: &mut dyn Includes,
    options: &Options,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Stmt>, ConfigError> {
    let mut pre = Pre {
        includes,
        options,
        params: HashMap::new(),
        total: 0,
        items: Vec::new(),
        warnings,
    };
    pre.file(text, name, 0)?;
    let items = pre.items;
    let mut at = 0;
    let stmts = block(&items, &mut at, None, 0)?;
    Ok(stmts)
}

/// Parses statements until the end (or the `}` closing the block opened at `open`).
fn block(
    items: &[Item],
    at: &mut usize,
    open: Option<&Position>,
    depth: usize,
) -> Result<Vec<Stmt>, ConfigError> {
    let mut out = Vec::new();
    loop {
        let Some(item) = items.get(*at) else {
            return match open {
                Some(p) => Err(ConfigError::new(p.clone(), ErrorKind::UnclosedBlock)),
                None => Ok(out),
            };
        };
        match item {
            Item::Eol => *at += 1,
            Item::Tok(Spanned {
                tok: Tok::Close,
                pos,
            }) => {
                *at += 1;
                return match open {
                    Some(_) => Ok(out),
                    None => Err(ConfigError::new(pos.clone(), ErrorKind::UnexpectedClose)),
                };
            }
            Item::Tok(Spanned {
                tok: Tok::Open,
                pos,
            }) => {
                return Err(ConfigError::new(pos.clone(), ErrorKind::StrayOpen));
            }
            Item::Tok(Spanned {
                tok: Tok::Word(w),
                pos,
            }) => {
                *at += 1;
                let mut stmt = Stmt {
                    keyword: w.clone(),
                    pos: pos.clone(),
                    args: Vec::new(),
                    block: None,
                };
                // Arguments up to the end of the line, a `{` or a `}`.
                while let Some(Item::Tok(Spanned {
                    tok: Tok::Word(a),
                    pos,
                })) = items.get(*at)
                {
                    stmt.args.push((a.clone(), pos.clone()));
                    *at += 1;
                }
                // A block may open on this line or on the next non-empty one.
                let mut look = *at;
                while matches!(items.get(look), Some(Item::Eol)) {
                    look += 1;
                }
                if let Some(Item::Tok(Spanned {
                    tok: Tok::Open,
                    pos,
                })) = items.get(look)
                {
                    if depth >= MAX_BLOCK_DEPTH {
                        return Err(ConfigError::new(
                            pos.clone(),
                            ErrorKind::Unsupported(format!(
                                "blocks nested more than {MAX_BLOCK_DEPTH} deep"
                            )),
                        ));
                    }
                    *at = look + 1;
                    let pos = pos.clone();
                    stmt.block = Some(block(items, at, Some(&pos), depth + 1)?);
                }
                out.push(stmt);
            }
        }
    }
}
