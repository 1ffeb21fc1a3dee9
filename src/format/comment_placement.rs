//! [`Placements`]: where each comment of a file is printed, decided once before layout so that
//! every comment lands in exactly one place.
//!
//! A comment belongs to the innermost [`Container`] whose brackets hold it, and there:
//! - the first comment after an element, if it ends a line of code, is that element's trailing
//!   comment (printed at the end of the element's last line);
//! - the first comment after an opening bracket, if it ends that bracket's line, stays there;
//! - any other comment between elements goes on its own line before the next element, or
//!   before the closing bracket after the last one.
//!
//! A comment inside an element but outside its containers (`let x = # why` or between `1 +`
//! and `2`) has no line of its own to keep once the element is rejoined, so it goes on its own
//! line before the element.

use std::collections::HashMap;

use super::element::{Container, Element};
use super::source_text::SourceText;
use crate::syntax::ast::{Comment, Item, Span};

/// An index into the file's comments.
pub(super) type CommentId = usize;

/// The container key of the file itself, whose "closing bracket" is its end.
pub(super) const FILE: usize = usize::MAX;

#[derive(Debug, Default)]
pub(super) struct Placements {
    /// By element span: comments on their own lines before the element.
    leading: HashMap<Span, Vec<CommentId>>,
    /// By element span: the comment that ends the element's last line.
    trailing: HashMap<Span, CommentId>,
    /// By opening bracket: the comment that ends the bracket's line.
    after_open: HashMap<usize, CommentId>,
    /// By opening bracket: comments on their own lines before the closing bracket.
    dangling: HashMap<usize, Vec<CommentId>>,
}

impl Placements {
    /// Places every comment of a file; `comments` must be sorted by position.
    pub(super) fn new(items: &[Item], comments: &[Comment], source: &SourceText<'_>) -> Self {
        let mut placer = Placer { source, comments, placements: Placements::default() };
        let elements: Vec<Element<'_>> = items.iter().map(Element::Item).collect();
        let all: Vec<CommentId> = (0..comments.len()).collect();
        placer.container(None, &elements, &all);
        placer.placements
    }

    pub(super) fn leading(&self, element: Span) -> &[CommentId] {
        self.leading.get(&element).map_or(&[], Vec::as_slice)
    }

    pub(super) fn trailing(&self, element: Span) -> Option<CommentId> {
        self.trailing.get(&element).copied()
    }

    pub(super) fn after_open(&self, open: usize) -> Option<CommentId> {
        self.after_open.get(&open).copied()
    }

    pub(super) fn dangling(&self, open: usize) -> &[CommentId] {
        self.dangling.get(&open).map_or(&[], Vec::as_slice)
    }

    /// How many comments were placed (each exactly once, so this is the file's count).
    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.leading.values().map(Vec::len).sum::<usize>()
            + self.trailing.len()
            + self.after_open.len()
            + self.dangling.values().map(Vec::len).sum::<usize>()
    }
}

struct Placer<'s> {
    source: &'s SourceText<'s>,
    comments: &'s [Comment],
    placements: Placements,
}

impl Placer<'_> {
    /// Places the comments inside a container (`open` is `None` for the file itself).
    fn container(&mut self, open: Option<usize>, elements: &[Element<'_>], ids: &[CommentId]) {
        let mut rest = ids;
        let mut previous: Option<Span> = None;
        for &element in elements {
            let span = element.span(self.source);
            let (gap, after) = rest.split_at(self.count_before(rest, span.start));
            let (inside, after) = after.split_at(self.count_before(after, span.end));
            let own_line = self.gap(open, previous, gap);
            if !own_line.is_empty() {
                self.placements.leading.entry(span).or_default().extend_from_slice(own_line);
            }
            self.element(element, span, inside);
            previous = Some(span);
            rest = after;
        }
        let own_line = self.gap(open, previous, rest);
        if !own_line.is_empty() {
            let key = open.unwrap_or(FILE);
            self.placements.dangling.entry(key).or_default().extend_from_slice(own_line);
        }
    }

    fn count_before(&self, ids: &[CommentId], position: usize) -> usize {
        ids.partition_point(|&id| self.comments[id].span.start < position)
    }

    /// Places the first comment of a gap between elements if it ends a line of code, and
    /// returns the comments left for lines of their own.
    fn gap<'i>(
        &mut self,
        open: Option<usize>,
        previous: Option<Span>,
        gap: &'i [CommentId],
    ) -> &'i [CommentId] {
        let Some((&first, others)) = gap.split_first() else { return gap };
        if self.source.is_own_line(&self.comments[first]) {
            return gap;
        }
        match (previous, open) {
            (Some(element), _) => {
                self.placements.trailing.insert(element, first);
                others
            }
            (None, Some(open)) => {
                self.placements.after_open.insert(open, first);
                others
            }
            (None, None) => gap,
        }
    }

    /// Places the comments inside an element: in its containers, or else before it.
    fn element(&mut self, element: Element<'_>, span: Span, ids: &[CommentId]) {
        if ids.is_empty() {
            return;
        }
        let containers: Vec<Container<'_>> = element.containers(self.source);
        let mut by_container: Vec<Vec<CommentId>> = vec![Vec::new(); containers.len()];
        for &id in ids {
            let start = self.comments[id].span.start;
            match containers.iter().position(|c| c.open < start && start < c.close) {
                Some(index) => by_container[index].push(id),
                None => self.placements.leading.entry(span).or_default().push(id),
            }
        }
        for (container, ids) in containers.iter().zip(by_container) {
            if !ids.is_empty() {
                self.container(Some(container.open), &container.elements, &ids);
            }
        }
    }
}
