//! One table for an enum whose variants have stable names (stored, logged,
//! in metrics and settings): each variant beside its name, so a variant
//! cannot be added and forgotten in `ALL` or in the name match, as the app's
//! `AppErrorCode` table does for error codes.

/// Declares the enum with `ALL` (every variant, in the order written),
/// `as_str` (its stable name) and `parse` (the variant with a name).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)*
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)*
        }

        impl $name {
            /// Every variant, in the order the table lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The variant with this stable name.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|variant| variant.as_str() == name)
            }
        }
    };
}

pub(crate) use named_enum;
