//! Waiting for a process that is not our child through a pidfd.
