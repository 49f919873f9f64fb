//! Auto traits of the public types (in the spirit of `futures`' `tests/auto_traits.rs`).
//!
//! Most checks are compile-time: this file does not build if a blueprint, error or setting
//! stops being `Send`, `Sync` or `Clone`. A blueprint is shared between threads and run from
//! any of them, so these bounds are part of the API. The few checks that are expected to be
//! debated are runtime tests (see `completion_is_sync`), so that a gap fails one test instead of
//! the whole file.

use std::future::Future;
use std::marker::PhantomData;

use weir::prelude::*;
use weir::testkit::{SinkProbe, SourceProbe};
use weir::{
    Attributes, Completion, Decider, Directive, LogLevels, MaybeHandle, OverflowStrategy,
    SourceStream,
};

/// Fails to compile unless `$ty` implements every listed trait.
macro_rules! assert_impl {
    ($ty:ty: $($tr:path),+ $(,)?) => {
        const _: fn() = || {
            fn check<T: ?Sized $(+ $tr)+>() {}
            check::<$ty>();
        };
    };
}

/// A non-`Send`, non-`Sync` element type: blueprints must not depend on their element type for
/// their own auto traits (they hold factories, not elements).
type NotSendElem = std::rc::Rc<u8>;

// Blueprints: Send + Sync + Clone, whatever they carry.
assert_impl!(Source<u32>: Send, Sync, Clone, Unpin);
assert_impl!(Source<u32, Completion<()>>: Send, Sync, Clone);
assert_impl!(Source<u32, SourceProbe<u32>>: Send, Sync, Clone);
assert_impl!(Source<u32, MaybeHandle<u32>>: Send, Sync, Clone);
assert_impl!(Source<NotSendElem, NotSendElem>: Send, Sync, Clone);
assert_impl!(Flow<u32>: Send, Sync, Clone, Unpin);
assert_impl!(Flow<u32, String, Completion<()>>: Send, Sync, Clone);
assert_impl!(Flow<NotSendElem, NotSendElem, NotSendElem>: Send, Sync, Clone);
assert_impl!(Sink<u32>: Send, Sync, Clone, Unpin);
assert_impl!(Sink<u32, Completion<Vec<u32>>>: Send, Sync, Clone);
assert_impl!(Sink<u32, SinkProbe<u32>>: Send, Sync, Clone);
assert_impl!(Sink<NotSendElem, NotSendElem>: Send, Sync, Clone);
assert_impl!(weir::SubFlow<Source<u32>, String>: Send, Sync, Clone);
assert_impl!(weir::SubFlow<Flow<u32>, u32>: Send, Sync, Clone);
assert_impl!(RunnableGraph<()>: Send, Sync, Clone, Unpin);
assert_impl!(RunnableGraph<Completion<Vec<u32>>>: Send, Sync, Clone);
assert_impl!(RunnableGraph<NotSendElem>: Send, Sync, Clone);

// Errors: shareable, cloneable, and usable as `Box<dyn Error + Send + Sync>` causes.
assert_impl!(StreamError: Send, Sync, Clone, Unpin, std::error::Error);

// Settings.
assert_impl!(Attributes: Send, Sync, Clone, Default, Unpin);
assert_impl!(Decider: Send, Sync, Clone);
assert_impl!(Directive: Send, Sync, Clone, Copy, PartialEq, Eq);
assert_impl!(OverflowStrategy: Send, Sync, Clone, Copy, PartialEq, Eq);
assert_impl!(LogLevels: Send, Sync, Clone, Copy, PartialEq);
assert_impl!(Keep: Send, Sync);

// Materialized values: movable to another task, awaitable there.
assert_impl!(Completion<()>: Send, Unpin, Future<Output = Result<(), StreamError>>);
assert_impl!(Completion<Vec<u32>>: Send, Unpin);
assert_impl!(MaybeHandle<u32>: Send, Sync);
assert_impl!(SourceProbe<u32>: Send, Sync);
assert_impl!(SinkProbe<u32>: Send, Sync);
assert_impl!(SourceStream<u32>: Send, Unpin, futures::Stream<Item = Result<u32, StreamError>>);

/// Autoref specialization: `is_sync!(T)` is `true` exactly when `T: Sync`, decided at compile
/// time but reported at run time.
struct Check<T: ?Sized>(PhantomData<T>);

trait ViaSync {
    fn is_sync(&self) -> bool {
        true
    }
}

impl<T: ?Sized + Sync> ViaSync for Check<T> {}

trait ViaAny {
    fn is_sync(&self) -> bool {
        false
    }
}

impl<T: ?Sized> ViaAny for &Check<T> {}

macro_rules! is_sync {
    ($ty:ty) => {
        (&Check::<$ty>(PhantomData)).is_sync()
    };
}

#[test]
fn specialization_probe_works() {
    assert!(is_sync!(u32));
    assert!(!is_sync!(std::cell::Cell<u32>));
}

/// `Completion` is the materialized value of most sinks, and Akka's counterpart (`Future`) is
/// freely shared. Every access to it goes through `&mut`/`Pin<&mut>`, so it can be `Sync`
/// even though it may hold a `Send`-only boxed future.
#[test]
fn completion_is_sync() {
    assert!(
        is_sync!(Completion<()>),
        "Completion<T> is not Sync: it cannot be held across an await in a future that must be \
         Sync, nor stored in a shared struct"
    );
}

/// The blueprints are usable from another thread: build on one, run on a runtime from another.
#[test]
fn blueprints_cross_threads() {
    let graph = Source::range(1u32, 4)
        .map(|x| x * 2)
        .to_mat(Sink::seq(), Keep::right);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let done = std::thread::spawn(move || graph.run_on(&handle))
        .join()
        .unwrap();
    assert_eq!(rt.block_on(done).unwrap(), vec![2, 4, 6, 8]);
}
