//! alistach-mock.
