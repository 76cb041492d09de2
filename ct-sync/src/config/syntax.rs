//! conntrackd.conf syntax: words, quoted strings, `{ … }` blocks and `#` comments, read into a
//! tree of sections with line numbers. Tokens come from nom; the tree is built by hand.

use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, value};
use nom::sequence::delimited;
use nom::{IResult, Parser};

use super::{ConfigError, ErrorKind};

/// Deepest block nesting accepted (conntrackd's grammar needs 4).
const MAX_DEPTH: usize = 8;

/// A line of words, with an optional block after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) words: Vec<String>,
    pub(crate) line: usize,
    pub(crate) block: Option<Vec<Self>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Eol,
}

fn token(i: &str) -> IResult<&str, Tok> {
    alt((
        value(Tok::Open, tag("{")),
        value(Tok::Close, tag("}")),
        map(
            delimited(char('"'), is_not("\"\n"), char('"')),
            |s: &str| Tok::Word(s.to_owned()),
        ),
        map(
            take_while1(|c: char| !c.is_whitespace() && !matches!(c, '{' | '}' | '"' | '#')),
            |s: &str| Tok::Word(s.to_owned()),
        ),
    ))
    .parse(i)
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ConfigError> {
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = n + 1;
        let mut rest = raw.trim_start();
        while !rest.is_empty() && !rest.starts_with('#') {
            match token(rest) {
                Ok((r, t)) => {
                    out.push((t, line));
                    rest = r.trim_start();
                }
                Err(_) => return Err(ConfigError::new(line, ErrorKind::UnterminatedQuote)),
            }
        }
        out.push((Tok::Eol, line));
    }
    Ok(out)
}

/// Parses the whole file into top-level nodes.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, ConfigError> {
    let toks = lex(text)?;
    let mut at = 0;
    block(&toks, &mut at, None, 0)
}

fn block(
    toks: &[(Tok, usize)],
    at: &mut usize,
    open: Option<usize>,
    depth: usize,
) -> Result<Vec<Node>, ConfigError> {
    let mut out = Vec::new();
    loop {
        let Some((tok, line)) = toks.get(*at) else {
            return match open {
                Some(l) => Err(ConfigError::new(l, ErrorKind::UnclosedBlock)),
                None => Ok(out),
            };
        };
        *at += 1;
        match tok {
            Tok::Eol => {}
            Tok::Close if open.is_some() => return Ok(out),
            Tok::Close => return Err(ConfigError::new(*line, ErrorKind::UnexpectedClose)),
            Tok::Open => return Err(ConfigError::new(*line, ErrorKind::StrayOpen)),
            Tok::Word(w) => {
                let mut node = Node {
                    words: vec![w.clone()],
                    line: *line,
                    block: None,
                };
                while let Some((Tok::Word(w), _)) = toks.get(*at) {
                    node.words.push(w.clone());
                    *at += 1;
                }
                // The block may open on this line or on a following one.
                let mut look = *at;
                while matches!(toks.get(look), Some((Tok::Eol, _))) {
                    look += 1;
                }
                if let Some((Tok::Open, l)) = toks.get(look) {
                    if depth >= MAX_DEPTH {
                        return Err(ConfigError::new(*l, ErrorKind::TooDeep(MAX_DEPTH)));
                    }
                    *at = look + 1;
                    node.block = Some(block(toks, at, Some(*l), depth + 1)?);
                }
                out.push(node);
            }
        }
    }
}
