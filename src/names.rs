//! `named_enum!`: the enums users choose by name (sampler settings, grids). One declaration gives the variants, their
//! names in manifests, the CLI and messages (serde, `FromStr`, `Display`), and the list of all values.

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn name(self) -> &'static str { match self { $($name::$var => $s),+ } }
        }
        impl $crate::names::Named for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn name(self) -> &'static str { $name::name(self) }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(format!("unknown {} '{}' (expected one of: {})", stringify!($name).to_lowercase(), s,
                        [$($s),+].join(", "))),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.name()) }
        }
    };
}
pub(crate) use named_enum;

/// An enum whose values have names, listed in declaration order. The C ABI numbers them from 1 in this order
/// (src/ffi/enums.rs), so values are appended, never reordered.
pub trait Named: Copy + PartialEq + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}
