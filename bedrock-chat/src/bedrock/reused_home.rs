//! Reused heap homes for the AWS SDK's request futures.
//!
//! The future of an SDK call (`converse().send()`) is about 8 KB. Behind the [`ModelClient`]
//! trait object it has to live on the heap, and glibc serves an allocation that large from its
//! sorted bins rather than its per-thread cache: measured with callgrind, one such allocation cost
//! about 5,000 instructions per request (a quarter of everything the library added to a turn
//! over the bare SDK), before the cache misses of writing 8 KB of fresh memory. So each
//! [`BedrockClient`](super::BedrockClient) keeps the homes its finished requests leave and
//! moves each new request future into one that is free: no allocation, the same memory, still
//! warm, every turn.
//!
//! All of it is safe code: a home is a `Pin<Box<Option<F>>>`, filled with
//! [`Pin::set`] (which drops what was there in place) and emptied the same way.
//!
//! [`ModelClient`]: crate::ModelClient

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

/// How many empty homes a client keeps per kind of request. Homes are made only when a request
/// finds none free, so a client keeps at most as many as it once had requests under way at
/// once: 8 KB each, 8 MiB per kind at this bound. The bound is as high as a busy server's
/// bursts because a home let go is no saving: the next burst allocates it again, and glibc's
/// handling of 8 KB blocks (consolidating its small free lists each time) was the whole of the
/// library's extra cost with 1,000 turns at once (`benches/ratios`: 1.092x the bare SDK with
/// 128 homes kept, 0.991x with 1,024). More requests at once than this still work; the homes
/// beyond it are allocated and freed.
const MAX_IDLE_HOMES: usize = 1024;

/// One kind of request future's homes; `F` is named by the first call and fixed from then on.
#[derive(Default)]
pub(super) struct Homes {
    idle: OnceLock<Box<dyn Any + Send + Sync>>,
}

type Home<F> = Pin<Box<Option<F>>>;
type Idle<F> = Mutex<Vec<Home<F>>>;

impl Homes {
    /// The future `make` makes, written into a free home (or a new one when none is free).
    /// (Made here rather than passed in, so that it is copied once, not twice.)
    pub(super) fn run<F: Future + Send + 'static>(
        &self,
        make: impl FnOnce() -> F,
    ) -> InHome<'_, F> {
        let idle = self
            .idle
            .get_or_init(|| Box::new(Idle::<F>::default()))
            // Always `Some`: a client keeps one `Homes` per SDK operation, so `F` never changes.
            // Were it to, the future would simply not be pooled.
            .downcast_ref::<Idle<F>>();
        let reused = idle.and_then(|idle| idle.lock().ok()?.pop());
        let home = match reused {
            Some(mut home) => {
                home.as_mut().set(Some(make()));
                home
            }
            None => Box::pin(Some(make())),
        };
        InHome {
            home: Some(home),
            idle,
        }
    }
}

/// A request future in its home; the home goes back to the client's idle list when this is
/// dropped, whether the request finished or was cancelled.
pub(super) struct InHome<'a, F> {
    home: Option<Home<F>>,
    idle: Option<&'a Idle<F>>,
}

impl<F: Future> Future for InHome<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // `InHome` is `Unpin` (it holds the future through a pinned box), so it can be reached
        // mutably here; the future itself never moves.
        let Some(home) = self.home.as_mut() else {
            return Poll::Pending;
        };
        let Some(future) = home.as_mut().as_pin_mut() else {
            // Polled again after it finished: a caller's mistake, answered with silence rather
            // than a panic.
            return Poll::Pending;
        };
        let output = std::task::ready!(future.poll(cx));
        // What the finished future still holds (the SDK's connection handle, its buffers) is
        // let go now, not when the caller drops this.
        home.as_mut().set(None);
        Poll::Ready(output)
    }
}

impl<F> Drop for InHome<'_, F> {
    fn drop(&mut self) {
        let Some(mut home) = self.home.take() else {
            return;
        };
        // Cancelled part-way: the request's state is dropped here, in place.
        home.as_mut().set(None);
        if let Some(mut idle) = self.idle.and_then(|idle| idle.lock().ok())
            && idle.len() < MAX_IDLE_HOMES
        {
            idle.push(home);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its drops, to see that a home's future is dropped exactly once.
    struct Dropped(Arc<AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn idle_count<F: Send + 'static>(homes: &Homes) -> usize {
        homes
            .idle
            .get()
            .and_then(|idle| idle.downcast_ref::<Idle<F>>())
            .map_or(0, |idle| idle.lock().map(|v| v.len()).unwrap_or(0))
    }

    /// Ready with its value on its second poll; holds its guard until dropped.
    struct Answer {
        value: usize,
        polled: bool,
        _guard: Dropped,
    }

    fn answer(value: usize, drops: &Arc<AtomicUsize>) -> Answer {
        Answer {
            value,
            polled: false,
            _guard: Dropped(drops.clone()),
        }
    }

    impl Future for Answer {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            if self.polled {
                return Poll::Ready(self.value);
            }
            self.polled = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_finished_future_gives_its_home_back_and_the_next_one_reuses_it() {
        let homes = Homes::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let first = homes.run(|| answer(1, &drops));
        let first_home: *const _ = &**first.home.as_ref().unwrap_or_else(|| unreachable!());
        assert_eq!(first.await, 1);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let second = homes.run(|| answer(2, &drops));
        let second_home: *const _ = &**second.home.as_ref().unwrap_or_else(|| unreachable!());
        assert_eq!(
            first_home, second_home,
            "the same memory, not a new allocation"
        );
        assert_eq!(second.await, 2);
    }

    #[tokio::test]
    async fn a_cancelled_future_is_dropped_once_and_its_home_kept() {
        let homes = Homes::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let mut pending = Box::pin(homes.run(|| answer(1, &drops)));
        // One poll: the future is part-way (at its yield), holding its guard.
        assert!(futures::poll!(pending.as_mut()).is_pending());
        drop(pending);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped with its request");
        assert_eq!(idle_count::<Answer>(&homes), 1);
    }

    #[tokio::test]
    async fn at_most_max_idle_homes_are_kept() {
        let homes = Homes::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let under_way: Vec<_> = (0..MAX_IDLE_HOMES + 3)
            .map(|i| homes.run(|| answer(i, &drops)))
            .collect();
        for (i, future) in under_way.into_iter().enumerate() {
            assert_eq!(future.await, i);
        }
        assert_eq!(drops.load(Ordering::SeqCst), MAX_IDLE_HOMES + 3);
        assert_eq!(idle_count::<Answer>(&homes), MAX_IDLE_HOMES);
    }
}
