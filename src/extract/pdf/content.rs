//! Runs a page's content stream as far as text goes: the text and graphics
//! state operators, the strings shown, and form XObjects, writing the text in
//! the order it is drawn.
//!
//! Where one string ends and the next begins is decided by geometry, as a
//! reader's eye decides it: a move across the line is a new line, a gap of
//! more than an em along it is a table cell (a tab, which `extract::table`
//! reads as one), a smaller gap a space.

use super::Reader;
use super::font::Font;
use super::lexer::{Lexer, Token};
use super::{get, number, resolve};
use lopdf::{Dictionary, Object};
use std::borrow::Cow;
use std::rc::Rc;

/// `[a b c d e f]`, as PDF writes matrices.
type Matrix = [f32; 6];

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

fn multiply(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn translate(m: &Matrix, tx: f32, ty: f32) -> Matrix {
    multiply(&[1.0, 0.0, 0.0, 1.0, tx, ty], m)
}

/// Operand stack depth kept; more is malformed and dropped.
const MAX_OPERANDS: usize = 64;
/// Items kept of one array operand (a `TJ` line is a few hundred); the
/// rest are read past, so a stream of one huge array cannot make the
/// reader hold a copy of it many times its size.
pub const MAX_ARRAY_ITEMS: usize = 1 << 16;
/// Nested `q` kept.
const MAX_SAVED: usize = 256;
/// Form XObjects inside each other.
pub const MAX_FORM_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum Operand<'a> {
    Number(f32),
    Str(Cow<'a, [u8]>),
    Name(Cow<'a, [u8]>),
    /// A `TJ` array: strings and position adjustments.
    Array(Vec<Operand<'a>>),
    Other,
}

#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    horizontal_scale: f32,
    leading: f32,
}

impl Default for State {
    fn default() -> State {
        State {
            ctm: IDENTITY,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            horizontal_scale: 1.0,
            leading: 0.0,
        }
    }
}

/// Where the last string ended, in device space, and the size of its text.
#[derive(Clone, Copy)]
pub struct Pen {
    x: f32,
    y: f32,
    size: f32,
}

/// One content stream run: its resources, the state, the text matrices.
pub struct Run<'r, 'd> {
    reader: &'r mut Reader<'d>,
    resources: Option<&'d Dictionary>,
    state: State,
    saved: Vec<State>,
    text_matrix: Matrix,
    line_matrix: Matrix,
    depth: usize,
}

impl<'r, 'd> Run<'r, 'd> {
    pub fn new(
        reader: &'r mut Reader<'d>,
        resources: Option<&'d Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) -> Run<'r, 'd> {
        Run {
            reader,
            resources,
            state: State {
                ctm,
                ..State::default()
            },
            saved: Vec::new(),
            text_matrix: IDENTITY,
            line_matrix: IDENTITY,
            depth,
        }
    }

    /// Runs `content`; false when the operation budget ran out.
    pub fn run(&mut self, content: &[u8]) -> bool {
        let mut lexer = Lexer::new(content);
        let mut operands: Vec<Operand<'_>> = Vec::new();
        while let Some(token) = lexer.next() {
            if !self.reader.spend(1) {
                return false;
            }
            let operand = match token {
                Token::Word(op) => {
                    if op == b"ID" {
                        lexer.skip_inline_image();
                    } else {
                        self.operator(op, &operands);
                    }
                    operands.clear();
                    if self.reader.full() {
                        return true;
                    }
                    continue;
                }
                Token::Number(n) => Operand::Number(n),
                Token::Str(s) => Operand::Str(s),
                Token::Name(n) => Operand::Name(n),
                Token::ArrayStart => match self.array(&mut lexer) {
                    Some(items) => Operand::Array(items),
                    None => return false,
                },
                Token::DictStart => {
                    if !self.skip_dictionary(&mut lexer) {
                        return false;
                    }
                    Operand::Other
                }
                Token::ArrayEnd | Token::DictEnd => Operand::Other,
            };
            if operands.len() >= MAX_OPERANDS {
                operands.clear();
            }
            operands.push(operand);
        }
        true
    }

    fn array<'a>(&mut self, lexer: &mut Lexer<'a>) -> Option<Vec<Operand<'a>>> {
        let mut items = Vec::new();
        let mut nested = 0usize;
        for token in lexer.by_ref() {
            if !self.reader.spend(1) {
                return None;
            }
            match token {
                Token::ArrayEnd if nested == 0 => return Some(items),
                Token::ArrayEnd => nested -= 1,
                Token::ArrayStart => nested += 1,
                Token::Number(n) if nested == 0 && items.len() < MAX_ARRAY_ITEMS => {
                    items.push(Operand::Number(n))
                }
                Token::Str(s) if nested == 0 && items.len() < MAX_ARRAY_ITEMS => {
                    items.push(Operand::Str(s))
                }
                _ => {}
            }
        }
        Some(items)
    }

    /// How many items [`Run::array`] keeps of the array at the lexer.
    #[cfg(test)]
    pub fn array_for_tests(&mut self, lexer: &mut Lexer<'_>) -> Option<usize> {
        self.array(lexer).map(|items| items.len())
    }

    fn skip_dictionary(&mut self, lexer: &mut Lexer<'_>) -> bool {
        let mut depth = 1usize;
        for token in lexer.by_ref() {
            if !self.reader.spend(1) {
                return false;
            }
            match token {
                Token::DictStart => depth += 1,
                Token::DictEnd => {
                    depth -= 1;
                    if depth == 0 {
                        return true;
                    }
                }
                _ => {}
            }
        }
        true
    }

    fn numbers<const N: usize>(operands: &[Operand<'_>]) -> Option<[f32; N]> {
        let tail = operands.get(operands.len().checked_sub(N)?..)?;
        let mut out = [0.0; N];
        for (o, v) in out.iter_mut().zip(tail) {
            match v {
                Operand::Number(n) => *o = *n,
                _ => return None,
            }
        }
        Some(out)
    }

    fn operator(&mut self, op: &[u8], operands: &[Operand<'_>]) {
        match op {
            b"q" if self.saved.len() < MAX_SAVED => {
                self.saved.push(self.state.clone());
            }
            b"Q" => {
                if let Some(state) = self.saved.pop() {
                    self.state = state;
                }
            }
            b"cm" => {
                if let Some(m) = Self::numbers::<6>(operands) {
                    self.state.ctm = multiply(&m, &self.state.ctm);
                }
            }
            b"BT" => {
                self.text_matrix = IDENTITY;
                self.line_matrix = IDENTITY;
            }
            b"Tf" => {
                if let [.., Operand::Name(name), Operand::Number(size)] = operands {
                    self.state.font = self.reader.font(self.resources, name);
                    self.state.size = *size;
                }
            }
            b"Td" => {
                if let Some([tx, ty]) = Self::numbers::<2>(operands) {
                    self.next_line(tx, ty);
                }
            }
            b"TD" => {
                if let Some([tx, ty]) = Self::numbers::<2>(operands) {
                    self.state.leading = -ty;
                    self.next_line(tx, ty);
                }
            }
            b"Tm" => {
                if let Some(m) = Self::numbers::<6>(operands) {
                    self.text_matrix = m;
                    self.line_matrix = m;
                }
            }
            b"T*" => self.next_line(0.0, -self.state.leading),
            b"TL" => {
                if let Some([v]) = Self::numbers::<1>(operands) {
                    self.state.leading = v;
                }
            }
            b"Tc" => {
                if let Some([v]) = Self::numbers::<1>(operands) {
                    self.state.char_spacing = v;
                }
            }
            b"Tw" => {
                if let Some([v]) = Self::numbers::<1>(operands) {
                    self.state.word_spacing = v;
                }
            }
            b"Tz" => {
                if let Some([v]) = Self::numbers::<1>(operands) {
                    self.state.horizontal_scale = v / 100.0;
                }
            }
            b"Tj" => {
                if let Some(Operand::Str(s)) = operands.last() {
                    self.show(s);
                }
            }
            b"'" => {
                self.next_line(0.0, -self.state.leading);
                if let Some(Operand::Str(s)) = operands.last() {
                    self.show(s);
                }
            }
            b"\"" => {
                if let [
                    ..,
                    Operand::Number(aw),
                    Operand::Number(ac),
                    Operand::Str(s),
                ] = operands
                {
                    self.state.word_spacing = *aw;
                    self.state.char_spacing = *ac;
                    self.next_line(0.0, -self.state.leading);
                    self.show(s);
                }
            }
            b"TJ" => {
                if let Some(Operand::Array(items)) = operands.last() {
                    for item in items {
                        match item {
                            Operand::Str(s) => self.show(s),
                            Operand::Number(n) => {
                                let tx =
                                    -n / 1000.0 * self.state.size * self.state.horizontal_scale;
                                self.text_matrix = translate(&self.text_matrix, tx, 0.0);
                            }
                            _ => {}
                        }
                    }
                }
            }
            b"Do" => {
                if let Some(Operand::Name(name)) = operands.last() {
                    self.form(name);
                }
            }
            _ => {}
        }
    }

    fn next_line(&mut self, tx: f32, ty: f32) {
        self.line_matrix = translate(&self.line_matrix, tx, ty);
        self.text_matrix = self.line_matrix;
    }

    /// Device position, direction and size of text drawn at the current
    /// text matrix.
    fn placement(&self) -> (f32, f32, f32, f32, f32) {
        let m = multiply(&self.text_matrix, &self.state.ctm);
        let scale = (m[0] * m[3] - m[1] * m[2]).abs().sqrt();
        let length = (m[0] * m[0] + m[1] * m[1]).sqrt();
        let (dx, dy) = if length > 0.0 {
            (m[0] / length, m[1] / length)
        } else {
            (1.0, 0.0)
        };
        (
            m[4],
            m[5],
            dx,
            dy,
            (self.state.size.abs() * scale).max(0.01),
        )
    }

    fn show(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let font = self
            .state
            .font
            .clone()
            .unwrap_or_else(|| self.reader.fallback_font());
        let (x, y, dx, dy, size) = self.placement();
        if let Some(pen) = self.reader.pen {
            let (gx, gy) = (x - pen.x, y - pen.y);
            let along = gx * dx + gy * dy;
            let across = -gx * dy + gy * dx;
            let em = size.max(pen.size);
            let separator = if across.abs() > 0.6 * em {
                Some('\n')
            } else if along > 1.0 * em {
                Some('\t')
            } else if along > 0.2 * em || along < -em {
                Some(' ')
            } else {
                None
            };
            if let Some(c) = separator {
                self.reader.separate(c);
            }
        }
        let state = &self.state;
        let mut advance = 0.0f32;
        let reader = &mut *self.reader;
        font.each_code(bytes, &mut |text, width, is_space| {
            reader.write(text);
            let spacing = state.char_spacing + if is_space { state.word_spacing } else { 0.0 };
            advance += (width * state.size + spacing) * state.horizontal_scale;
        });
        self.text_matrix = translate(&self.text_matrix, advance, 0.0);
        let (x, y, _, _, size) = self.placement();
        self.reader.pen = Some(Pen { x, y, size });
    }

    /// Runs a form XObject (headers, footers, stamps and whole pages are
    /// drawn as forms by some writers).
    fn form(&mut self, name: &[u8]) {
        if self.depth >= MAX_FORM_DEPTH {
            return;
        }
        let doc = self.reader.doc;
        let Some(resources) = self.resources else {
            return;
        };
        let Ok(xobjects) = get(doc, resources, b"XObject").as_dict() else {
            return;
        };
        let Object::Stream(stream) = get(doc, xobjects, name) else {
            return;
        };
        if get(doc, &stream.dict, b"Subtype").as_name().ok() != Some(b"Form") {
            return;
        }
        let matrix = match get(doc, &stream.dict, b"Matrix") {
            Object::Array(m) if m.len() == 6 => {
                let mut out = IDENTITY;
                for (o, v) in out.iter_mut().zip(m) {
                    *o = number(resolve(doc, v)).unwrap_or(0.0);
                }
                out
            }
            _ => IDENTITY,
        };
        let Some(content) = self.reader.streams.decode(stream) else {
            return;
        };
        let resources = get(doc, &stream.dict, b"Resources")
            .as_dict()
            .ok()
            .or(self.resources);
        let ctm = multiply(&matrix, &self.state.ctm);
        let mut inner = Run::new(self.reader, resources, ctm, self.depth + 1);
        inner.run(&content);
    }
}
