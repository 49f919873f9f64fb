//! What a sink probe has observed, checked signal by signal against the Reactive Streams rules.

use std::fmt::Debug;

use weir::testkit::{Event, SinkProbe};

/// The signals one sink probe received, with the demand the test signalled.
#[derive(Debug)]
pub struct Observed<T> {
    /// Total demand signalled (saturating).
    pub requested: u64,
    /// Elements received, in order.
    pub elements: Vec<T>,
    /// The terminal signal, once received.
    pub terminal: Option<Event<T>>,
    /// Whether the test cancelled the sink.
    pub cancelled: bool,
}

impl<T> Default for Observed<T> {
    fn default() -> Self {
        Observed {
            requested: 0,
            elements: Vec::new(),
            terminal: None,
            cancelled: false,
        }
    }
}

impl<T: Send + Debug + PartialEq + 'static> Observed<T> {
    /// Records `event`, asserting: nothing after cancellation or a terminal signal, and never
    /// more elements than requested (rules 1.1, 1.3, 1.7, 3.6).
    pub fn absorb(&mut self, event: Event<T>) {
        assert!(!self.cancelled, "{event:?} after the sink cancelled");
        assert!(
            self.terminal.is_none(),
            "{event:?} after the terminal {:?}",
            self.terminal
        );
        match event {
            Event::Next(x) => {
                self.elements.push(x);
                assert!(
                    self.elements.len() as u64 <= self.requested,
                    "{} elements delivered for a total demand of {}",
                    self.elements.len(),
                    self.requested
                );
            }
            terminal => self.terminal = Some(terminal),
        }
    }

    /// Records every signal `sink` has received so far.
    pub fn absorb_all(&mut self, sink: &SinkProbe<T>) {
        for event in sink.drain_events() {
            self.absorb(event);
        }
    }
}
