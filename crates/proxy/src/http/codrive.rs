//! An upstream link's HTTP/1.1 client connection driven inside the task that serves the
//! intercepted client connection, instead of a task of its own. Spawned, hyper's client
//! connection made every forwarded request cross tasks (and often worker threads) a few times
//! each way: the request into its channel, the response head and the body back. Driven
//! here, one exchange runs in one task: the [`Codriven`] future polls the serving side and
//! the link's connections in turn, each side with a waker of its own that marks it, so a
//! wake-up polls only the side that was woken. A connection started while no serving task
//! drives the link (an absolute-form request's lazy link), or left when its serving task
//! ends, runs in a task of its own as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// A client connection's future, as the link hands it over to be driven.
pub(crate) type ConnFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How many times one poll of [`Codriven`] may go round its two sides before it yields.
const ROUNDS: usize = 8;

/// Where a link's client connections run.
pub(crate) struct Driver {
    state: Mutex<State>,
}

struct State {
    mode: Mode,
    /// The connections a serving task drives (or will, once it starts).
    conns: Vec<ConnFuture>,
}

enum Mode {
    /// Held for a serving task that has not started yet.
    Held,
    /// Driven by a serving task: this waker marks the connections' side of it.
    Attached(Waker),
    /// Each connection spawned as a task of its own.
    Spawned,
}

impl Driver {
    /// A driver that holds connections until a serving task drives them.
    pub(crate) fn held() -> Arc<Self> {
        Self::with(Mode::Held)
    }

    /// A driver that spawns every connection as a task of its own.
    pub(crate) fn spawned() -> Arc<Self> {
        Self::with(Mode::Spawned)
    }

    fn with(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                mode,
                conns: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `conn`: in the serving task that drives this link, or in a task of its own.
    pub(crate) fn run(&self, conn: ConnFuture) {
        let mut state = self.lock();
        let waker = match &state.mode {
            Mode::Spawned => {
                drop(state);
                spawn(conn);
                return;
            }
            Mode::Held => None,
            Mode::Attached(waker) => Some(waker.clone()),
        };
        state.conns.push(conn);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// A serving task drives the connections held for it, and those to come.
    fn attach(&self, waker: Waker) {
        let mut state = self.lock();
        if matches!(state.mode, Mode::Held) {
            state.mode = Mode::Attached(waker);
        }
    }

    /// No serving task drives the link any more: its connections go on in tasks of their own.
    pub(crate) fn detach(&self) {
        let conns = {
            let mut state = self.lock();
            state.mode = Mode::Spawned;
            std::mem::take(&mut state.conns)
        };
        conns.into_iter().for_each(spawn);
    }

    /// Polls every connection once, keeping those not done.
    fn poll_conns(&self, cx: &mut Context<'_>) {
        let mut conns = std::mem::take(&mut self.lock().conns);
        conns.retain_mut(|conn| conn.as_mut().poll(cx).is_pending());
        let mut state = self.lock();
        // Connections handed over while these were polled come after them.
        conns.append(&mut state.conns);
        state.conns = conns;
    }
}

/// Spawns a connection left without a serving task; outside a runtime (at shutdown) it is
/// dropped, as the runtime would drop its task.
fn spawn(conn: ConnFuture) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(conn);
    }
}

/// Which sides were woken since they were last polled, and the task to wake for them.
struct Wakes {
    task: Mutex<Option<Waker>>,
    serving: AtomicBool,
    conns: AtomicBool,
}

impl Wakes {
    fn register(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }

    fn wake_task(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

/// The waker of one side: marks it, then wakes the task.
struct Side {
    wakes: Arc<Wakes>,
    conns: bool,
}

impl Wake for Side {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let flag = if self.conns {
            &self.wakes.conns
        } else {
            &self.wakes.serving
        };
        flag.store(true, Ordering::Release);
        self.wakes.wake_task();
    }
}

pin_project_lite::pin_project! {
    /// `serving` and the connections of a link's [`Driver`], polled in one task; done when
    /// `serving` is, when the connections left go on in tasks of their own.
    pub(crate) struct Codriven<F> {
        #[pin]
        serving: F,
        driver: Arc<Driver>,
        wakes: Arc<Wakes>,
        serving_waker: Waker,
        conns_waker: Waker,
        attached: bool,
    }

    impl<F> PinnedDrop for Codriven<F> {
        fn drop(this: Pin<&mut Self>) {
            this.driver.detach();
        }
    }
}

impl<F: Future<Output = ()>> Codriven<F> {
    pub(crate) fn new(serving: F, driver: Arc<Driver>) -> Self {
        let wakes = Arc::new(Wakes {
            task: Mutex::new(None),
            serving: AtomicBool::new(true),
            conns: AtomicBool::new(true),
        });
        let side = |conns| {
            Waker::from(Arc::new(Side {
                wakes: wakes.clone(),
                conns,
            }))
        };
        let (serving_waker, conns_waker) = (side(false), side(true));
        Self {
            serving,
            driver,
            wakes,
            serving_waker,
            conns_waker,
            attached: false,
        }
    }
}

impl<F: Future<Output = ()>> Future for Codriven<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        this.wakes.register(cx.waker());
        if !*this.attached {
            this.driver.attach(this.conns_waker.clone());
            *this.attached = true;
        }
        for _ in 0..ROUNDS {
            let mut polled = false;
            if this.wakes.serving.swap(false, Ordering::AcqRel) {
                polled = true;
                let mut serving_cx = Context::from_waker(this.serving_waker);
                if this.serving.as_mut().poll(&mut serving_cx).is_ready() {
                    this.driver.detach();
                    return Poll::Ready(());
                }
            }
            if this.wakes.conns.swap(false, Ordering::AcqRel) {
                polled = true;
                this.driver
                    .poll_conns(&mut Context::from_waker(this.conns_waker));
            }
            if !polled {
                return Poll::Pending;
            }
        }
        // Still woken after as many rounds: let the runtime's other tasks run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::sync::oneshot;

    /// A connection handed over while the serving side runs is driven in the same task, and
    /// the serving side sees what it did.
    #[tokio::test]
    async fn connections_run_beside_the_serving_side() {
        let driver = Driver::held();
        let (to_conn, from_serving) = oneshot::channel::<u32>();
        let (to_serving, from_conn) = oneshot::channel::<u32>();
        let handed = driver.clone();
        let serving = async move {
            handed.run(Box::pin(async move {
                let n = from_serving.await.expect("the serving side sends");
                to_serving.send(n + 1).expect("the serving side waits");
            }));
            to_conn.send(41).expect("the connection waits");
            assert_eq!(from_conn.await.expect("the connection answers"), 42);
        };
        Codriven::new(serving, driver.clone()).await;
        assert!(driver.lock().conns.is_empty());
    }

    /// Connections left when the serving side ends go on in tasks of their own, and so does
    /// every connection started after.
    #[tokio::test]
    async fn connections_outlive_their_serving_side() {
        let driver = Driver::held();
        let (release, released) = oneshot::channel::<()>();
        let (done, finished) = oneshot::channel::<()>();
        driver.run(Box::pin(async move {
            let _ = released.await;
            let _ = done.send(());
        }));
        Codriven::new(async {}, driver.clone()).await;
        assert!(matches!(driver.lock().mode, Mode::Spawned));
        release.send(()).expect("the connection waits");
        finished.await.expect("the spawned connection finishes");

        let (done, finished) = oneshot::channel::<()>();
        driver.run(Box::pin(async move {
            let _ = done.send(());
        }));
        finished.await.expect("a later connection runs on its own");
    }

    /// A connection held by a link that no serving task ever drove is spawned when the
    /// driver is detached (the link dropped), not lost.
    #[tokio::test]
    async fn held_connections_are_spawned_on_detach() {
        let driver = Driver::held();
        let (done, finished) = oneshot::channel::<()>();
        driver.run(Box::pin(async move {
            let _ = done.send(());
        }));
        driver.detach();
        finished.await.expect("the held connection runs");
    }
}
