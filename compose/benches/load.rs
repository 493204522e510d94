//! Time to load the largest conformance case (awesome-compose react-express-mysql, copied into fixtures/).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;

fn load_largest(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures/react-express-mysql");
    let opts = compose::LoadOptions {
        working_dir: Some(dir),
        environment: Some([("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into_iter().collect()),
        ..compose::LoadOptions::default()
    };
    c.bench_function("load react-express-mysql", |b| {
        b.iter(|| {
            let loaded = compose::load_document(black_box(&opts));
            assert!(loaded.is_ok(), "{:?}", loaded.err());
            loaded
        })
    });
    c.bench_function("load + type react-express-mysql", |b| {
        b.iter(|| compose::load(black_box(&opts)).is_ok())
    });
}

criterion_group!(benches, load_largest);
criterion_main!(benches);
