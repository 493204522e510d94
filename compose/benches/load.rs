// placeholder created by the runtime helper so the workspace parses; the owner replaces it
fn main() {}
