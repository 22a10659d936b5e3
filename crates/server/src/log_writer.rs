//! Where log lines go: into a bounded in-memory buffer that one background thread writes out,
//! so a request never waits for a terminal, a pipe or a disk.
//!
//! Writing each line to stderr from the worker that served the request costs a system call
//! per request, and a consumer that stops reading (a full pipe, a stuck terminal, a slow
//! disk) stops every worker with it. Here a worker only appends the formatted line to a
//! buffer under a short lock; the writer thread swaps the buffer out a few times a second (or
//! sooner when it fills) and writes it in one call. A wake-up per line would cost a futex call
//! and a context switch per request (tracing-appender's worker is woken by each message), so
//! the thread sleeps on a timer and is woken early only when the buffer crosses
//! [`WAKE_AT`]. When the consumer is so slow that the buffer reaches its bound, new lines are
//! dropped and counted, and the count is written as a line of its own once there is room:
//! losing log lines is better than serving requests slowly or growing without bound.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in the buffer when traffic is light.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// The buffer size at which a worker wakes the writer thread early.
const WAKE_AT: usize = 64 * 1024;
/// The most a buffer holds; lines beyond it are dropped (and counted) until the writer
/// catches up. Two buffers exist at a time (one filling, one being written).
const CAPACITY: usize = 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves only bytes behind: keep logging.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The [`MakeWriter`] handed to the subscriber. Cheap to clone.
#[derive(Clone)]
pub struct BufferedLog {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written everything buffered. Hold it
/// for as long as the process logs (in `main`).
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A buffer written to `out` by a thread of its own.
pub fn spawn<W: Write + Send + 'static>(out: W) -> std::io::Result<(BufferedLog, FlushOnDrop)> {
    spawn_with_capacity(out, CAPACITY)
}

fn spawn_with_capacity<W: Write + Send + 'static>(
    mut out: W,
    capacity: usize,
) -> std::io::Result<(BufferedLog, FlushOnDrop)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
        capacity,
    });
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_until_closed(&writer, &mut out))?;
    Ok((
        BufferedLog {
            shared: shared.clone(),
        },
        FlushOnDrop {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_until_closed(shared: &Shared, out: &mut dyn Write) {
    let mut spare = Vec::new();
    loop {
        let (dropped, closed) = {
            let mut pending = shared.lock();
            if pending.bytes.is_empty() && pending.dropped == 0 && !pending.closed {
                pending = shared
                    .wake
                    .wait_timeout(pending, FLUSH_EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut pending.bytes, &mut spare);
            (std::mem::take(&mut pending.dropped), pending.closed)
        };
        // Errors have nowhere to be reported but the output that just failed; a line that
        // cannot be written is lost like a dropped one.
        let _ = out.write_all(&spare);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "palisade: {dropped} log lines dropped: the log output was not keeping up"
            );
        }
        let _ = out.flush();
        // Keep the allocation for the next round, unless a burst made it unusually large.
        spare.clear();
        if spare.capacity() > shared.capacity {
            spare = Vec::new();
        }
        if closed && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One formatted line on its way into the buffer. tracing-subscriber's formatter writes an
/// event's whole line in one `write` call, so a line is appended whole or dropped whole.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let wake = {
            let mut pending = self.shared.lock();
            if pending.bytes.len() + line.len() > self.shared.capacity {
                pending.dropped += 1;
                false
            } else {
                let before = pending.bytes.len();
                pending.bytes.extend_from_slice(line);
                before < WAKE_AT && pending.bytes.len() >= WAKE_AT
            }
        };
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedLog {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// An output that shares what it was given.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output that blocks until the test lets it go: a reader that stopped reading.
    struct Stuck {
        release: mpsc::Receiver<()>,
        inner: Collected,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.release.recv();
            self.inner.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// One line as the subscriber writes it: in a single `write` call.
    fn log_line(log: &BufferedLog, line: &str) {
        log.make_writer().write_all(line.as_bytes()).unwrap();
    }

    fn text(out: &Collected) -> String {
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_are_written_in_order_and_all_of_them_by_the_time_the_guard_drops() {
        let out = Collected::default();
        let (log, guard) = spawn(out.clone()).unwrap();
        for i in 0..10_000 {
            log_line(&log, &format!("line {i}\n"));
        }
        drop(guard);
        let expected: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text(&out), expected);
    }

    #[test]
    fn a_quiet_log_is_written_without_waiting_for_more() {
        let out = Collected::default();
        let (log, _guard) = spawn(out.clone()).unwrap();
        log_line(&log, "serving\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while text(&out).is_empty() {
            assert!(Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(text(&out), "serving\n");
    }

    #[test]
    fn a_stuck_output_never_blocks_a_writer_and_the_lost_lines_are_counted() {
        let (release, released) = mpsc::channel();
        let inner = Collected::default();
        let stuck = Stuck {
            release: released,
            inner: inner.clone(),
        };
        let (log, guard) = spawn_with_capacity(stuck, 100).unwrap();
        // Declared after the guard, so dropped before it if an assertion fails: the writer
        // thread is then released and the guard's join returns instead of hanging the test.
        let release = release;
        // The writer thread takes the first line and blocks writing it; the rest fill the
        // buffer and then overflow. None of these calls may block: if one did, this test
        // would hang here instead of reaching the assertions.
        log_line(&log, "first\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.shared.lock().bytes.is_empty() {
            assert!(Instant::now() < deadline, "the writer never took the line");
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..50 {
            log_line(&log, &format!("line {i:03}\n"));
        }
        // 100 bytes hold eleven 9-byte lines; the other 39 were dropped.
        assert_eq!(log.shared.lock().dropped, 39);
        for _ in 0..4 {
            release.send(()).unwrap();
        }
        drop(release);
        drop(guard);
        let written = text(&inner);
        let kept: String = (0..11).map(|i| format!("line {i:03}\n")).collect();
        assert_eq!(
            written,
            format!(
                "first\n{kept}palisade: 39 log lines dropped: the log output was not keeping up\n"
            )
        );
    }
}
