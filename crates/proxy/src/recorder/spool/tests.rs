use std::io::Read;

use super::*;

fn chunk() -> Bytes {
    Bytes::from(vec![7u8; SPOOL_AFTER / 2 + 1])
}

/// `data` stored `times` over in a new body through `spools`: the spool it was handed to
/// (nothing of it left in memory).
fn spooled(spools: &SpoolDir, data: &Bytes, times: usize) -> Spool {
    let mut body = CapturedBody::default();
    for _ in 0..times {
        spools.store(&mut body, data);
    }
    assert!(body.bytes.is_empty(), "nothing kept in memory");
    body.spool.take().expect("spooled")
}

fn read_back(settled: Settled) -> Vec<u8> {
    match settled {
        Settled::File(file, len) => {
            let mut read = Vec::new();
            file.take(len).read_to_end(&mut read).expect("read");
            read
        }
        Settled::Memory(bytes) => bytes,
    }
}

#[test]
fn a_body_past_the_first_mib_is_spooled_whole_and_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let spools = SpoolDir::start(dir.path().to_owned(), None).expect("spooler");
    let chunk = chunk();
    let spool = spooled(&spools, &chunk, 3);
    assert_eq!(spool.len(), chunk.len() * 3);
    let (settled, lost) = spool.settle().expect("settled");
    assert!(matches!(settled, Settled::File(..)) && lost == 0);
    assert_eq!(read_back(settled), [&chunk[..]; 3].concat());
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn a_body_whose_spool_file_cannot_be_made_is_kept_in_memory_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let gone = dir.path().join("gone");
    let spools = SpoolDir::start(gone.clone(), None).expect("spooler");
    let chunk = chunk();
    let spool = spooled(&spools, &chunk, 2);
    let (settled, lost) = spool.settle().expect("settled");
    assert!(matches!(settled, Settled::Memory(_)) && lost == 0);
    assert_eq!(read_back(settled), [&chunk[..]; 2].concat());
}

/// The tee never waits on the disk: with the spooler held back (the test gate closed), every
/// chunk is handed over at once and none is written; opening the gate writes them all.
#[test]
fn storing_does_not_wait_for_the_spooler() {
    let dir = tempfile::tempdir().expect("dir");
    let gate = dir.path().join("gate");
    let spools = SpoolDir::start(dir.path().to_owned(), Some(gate.clone())).expect("spooler");
    // A hang guard, not a timing assertion: were storing to wait for the spooler, the gate
    // would open only here, and the check below would see written chunks.
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(60));
            let _ = std::fs::write(gate, b"");
        })
    };
    let chunk = chunk();
    let spool = spooled(&spools, &chunk, 4);
    {
        let state = spool.job.lock();
        assert_eq!((state.handled, state.stored), (0, 0), "nothing written yet");
    }
    std::fs::write(&gate, b"").expect("gate");
    let (settled, lost) = spool.settle().expect("settled");
    assert_eq!(lost, 0);
    assert_eq!(read_back(settled).len(), chunk.len() * 4);
    drop(opener);
}

/// A chunk the spool file cannot take is lost, and so is every later one: stored bytes never
/// have gaps. The writer learns how many were lost.
#[test]
fn after_a_failed_write_nothing_more_is_stored_and_the_loss_is_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("read-only");
    std::fs::write(&path, b"").expect("file");
    let mut spooler = Spooler::new(dir.path().to_owned(), None).expect("spooler");
    let mut sealed = spooler.open().expect("a spool file");
    sealed.file = File::open(&path).expect("opened to read only");
    let job = Arc::new(Job::default());
    job.lock().store = Some(Store::File(sealed));
    let spool = Spool {
        job: job.clone(),
        len: 3 * 10,
    };
    for _ in 0..3 {
        let chunk = Chunk {
            job: job.clone(),
            bytes: Bytes::from_static(b"0123456789"),
        };
        spooler.take(&chunk);
    }
    assert!(spooler.warned.load(Ordering::Relaxed));
    let (settled, lost) = spool.settle().expect("settled");
    assert_eq!(lost, 30);
    assert!(read_back(settled).is_empty());
}

/// Chunks handed over after the spooler is gone are counted as lost: settling never waits
/// for them.
#[test]
fn chunks_the_spooler_never_took_are_counted_as_lost() {
    let (tx, rx) = mpsc::channel();
    drop(rx);
    let spools = SpoolDir { spooler: tx };
    let chunk = chunk();
    let spool = spooled(&spools, &chunk, 2);
    let (settled, lost) = spool.settle().expect("settled");
    assert_eq!(lost, chunk.len() * 2);
    assert!(read_back(settled).is_empty());
}

/// What reaches the disk is sealed; read through the spool file, it is the body again, from
/// any position.
#[test]
fn spooled_bytes_reach_the_disk_sealed_and_read_back_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let spools = SpoolDir::start(dir.path().to_owned(), None).expect("spooler");
    let text = "Authorization: Bearer sk-planted ".repeat(SPOOL_AFTER / 16);
    let spool = spooled(&spools, &Bytes::from(text.clone()), 1);
    let (settled, lost) = spool.settle().expect("settled");
    let Settled::File(mut file, len) = settled else {
        panic!("spooled to a file");
    };
    assert_eq!((len, lost), (text.len() as u64, 0));
    let mut on_disk = Vec::new();
    file.file.read_to_end(&mut on_disk).expect("raw read");
    assert_eq!(on_disk.len(), text.len());
    assert!(
        !on_disk.windows(10).any(|w| w == b"sk-planted"),
        "sealed on disk"
    );
    let middle = text.len() as u64 / 2 + 3;
    file.seek(SeekFrom::Start(middle)).expect("seek");
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).expect("read");
    assert!(
        tail == text.as_bytes()[middle as usize..],
        "unsealed from the middle"
    );
    file.seek(SeekFrom::Start(0)).expect("rewind");
    let mut whole = Vec::new();
    file.read_to_end(&mut whole).expect("read");
    assert!(whole == text.as_bytes(), "unsealed whole");
}
