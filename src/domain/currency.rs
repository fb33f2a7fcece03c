//! ISO 4217 currencies Cowry knows, with their minor-unit exponents.

/// A currency code Cowry can hold money in. Built only through [`Currency::parse`], so its exponent is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

/// (code, exponent) from ISO 4217. African currencies first, then the majors merchants settle in.
const KNOWN: &[(&str, u32)] = &[
    ("NGN", 2),
    ("GHS", 2),
    ("KES", 2),
    ("UGX", 0),
    ("RWF", 0),
    ("TZS", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("XOF", 0),
    ("XAF", 0),
    ("EGP", 2),
    ("MAD", 2),
    ("ETB", 2),
    ("MWK", 2),
    ("CDF", 2),
    ("BWP", 2),
    ("GNF", 0),
    ("BIF", 0),
    ("SLE", 2),
    ("MZN", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
];

impl Currency {
    /// Accepts an upper-case ISO 4217 code that Cowry knows.
    pub fn parse(code: &str) -> Option<Currency> {
        KNOWN
            .iter()
            .find(|(known, _)| *known == code)
            .map(|&(code, exponent)| Currency { code, exponent })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point in the major unit (2 for NGN kobo, 0 for UGX).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_exponents() {
        assert_eq!(Currency::parse("NGN").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("UGX").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("RWF").unwrap().exponent(), 0);
    }

    #[test]
    fn rejects_unknown_and_lower_case() {
        assert!(Currency::parse("ngn").is_none());
        assert!(Currency::parse("XYZ").is_none());
        assert!(Currency::parse("").is_none());
    }
}
