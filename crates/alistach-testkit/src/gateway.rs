//! The fake AliExpress gateway.
