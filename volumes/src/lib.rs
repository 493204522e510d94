//! Volumes and mounts: the named-volume store and every kind of mount a container gets.
