//! A minimal parallel map over the machine's cores (std threads; no pool to start up).

/// Applies `f` to every item on up to `available_parallelism` threads; results keep input order.
/// Below `min_items` (where starting a thread costs more than it saves) it runs inline.
pub fn map<T: Sync, R: Send>(items: &[T], min_items: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < min_items.max(2) {
        return items.iter().map(f).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
