//! keepalived.conf lexing: words, quoted strings, braces and comments, with line and column,
//! grouped into statements (a line of words, optionally opening a block).

use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, opt, recognize, value};
use nom::multi::many1;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

use super::error::{ConfigError, ErrorKind, Position};

/// One lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word or a quoted string (quotes removed).
    Word(String),
    /// `{`
    Open,
    /// `}`
    Close,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned {
    pub(crate) tok: Tok,
    pub(crate) pos: Position,
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

fn is_word_char(c: char) -> bool {
    !is_space(c) && c != '\n' && c != '{' && c != '}' && c != '"' && c != '$'
}

/// A bare word: word characters, `$NAME` and `${NAME}` parameter references.
fn word(i: &str) -> IResult<&str, &str> {
    recognize(many1(alt((
        recognize((
            tag("${"),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
            char('}'),
        )),
        take_while1(is_word_char),
        tag("$"),
    ))))
    .parse(i)
}

/// A comment runs from `#` or `!` to the end of the line.
fn comment(i: &str) -> IResult<&str, ()> {
    value((), (alt((char('#'), char('!'))), opt(is_not("\n")))).parse(i)
}

fn quoted(i: &str) -> IResult<&str, &str> {
    delimited(char('"'), recognize(opt(is_not("\"\n"))), char('"')).parse(i)
}

fn token(i: &str) -> IResult<&str, Tok> {
    alt((
        value(Tok::Open, tag("{")),
        value(Tok::Close, tag("}")),
        map(quoted, |s: &str| Tok::Word(s.to_owned())),
        map(word, |s: &str| Tok::Word(s.to_owned())),
    ))
    .parse(i)
}

/// Splits `text` into lines of tokens (comments dropped). Each inner vector is one physical
/// line; empty lines are omitted. A word that starts a comment (`#`, `!`) only counts at the
/// start of a token, so `a#b` stays one word, as keepalived reads it.
pub(crate) fn lex(text: &str, file: &str) -> Result<Vec<Vec<Spanned>>, ConfigError> {
    let mut lines = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let mut rest = raw;
        let mut toks = Vec::new();
        loop {
            let (r, _) = take_while::<_, _, nom::error::Error<&str>>(is_space)
                .parse(rest)
                .unwrap_or((rest, ""));
            rest = r;
            if rest.is_empty()
                || preceded(opt(take_while(is_space)), comment)
                    .parse(rest)
                    .is_ok()
            {
                break;
            }
            let col = raw.len() - rest.len() + 1;
            let pos = Position {
                file: file.to_owned(),
                line: line_no,
                column: col,
            };
            match token(rest) {
                Ok((r, tok)) => {
                    toks.push(Spanned { tok, pos });
                    rest = r;
                }
                Err(_) => {
                    return Err(ConfigError::new(pos, ErrorKind::UnterminatedQuote));
                }
            }
        }
        if !toks.is_empty() {
            lines.push(toks);
        }
    }
    Ok(lines)
}
