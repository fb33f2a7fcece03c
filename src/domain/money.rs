//! Exact money. Amounts live as integer minor units; the decimal text merchants send is converted here,
//! at the edge, without ever passing through a float.

use super::currency::Currency;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// Why a decimal amount was refused; the text is the field message a merchant sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a plain decimal number (no exponent, sign or spaces)")]
    NotDecimal,
    #[error("must be greater than 0")]
    NotPositive,
    #[error("has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        currency: &'static str,
        exponent: u32,
    },
    #[error("is too large")]
    TooLarge,
}

impl Money {
    /// Parses the text of a JSON number in major units ("45000", "1500.5") into minor units.
    /// Trailing zeros after the point are not extra precision ("100.50" NGN and "100.0" UGX are fine).
    pub fn from_major_str(text: &str, currency: Currency) -> Result<Money, AmountError> {
        let negative = text.starts_with('-');
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (unsigned, ""),
        };
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
            return Err(AmountError::NotDecimal);
        }
        if unsigned.contains('.') && fraction.is_empty() {
            return Err(AmountError::NotDecimal);
        }
        let fraction = fraction.trim_end_matches('0');
        let exponent = currency.exponent();
        if fraction.len() > exponent as usize {
            if negative {
                return Err(AmountError::NotPositive);
            }
            return Err(AmountError::TooPrecise {
                currency: currency.code(),
                exponent,
            });
        }
        let whole = whole.trim_start_matches('0');
        // Minor-unit digits: the whole part, then the fraction padded to the exponent.
        let mut minor_digits = String::with_capacity(whole.len() + exponent as usize);
        minor_digits.push_str(whole);
        minor_digits.push_str(fraction);
        for _ in fraction.len()..exponent as usize {
            minor_digits.push('0');
        }
        let minor_digits = minor_digits.trim_start_matches('0');
        if minor_digits.is_empty() || negative {
            return Err(AmountError::NotPositive);
        }
        let minor: i64 = minor_digits.parse().map_err(|_| AmountError::TooLarge)?;
        Ok(Money { minor, currency })
    }

    /// Builds from stored minor units (trusted: the database enforces > 0).
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Major units as the shortest exact decimal text: 4500000 kobo → "45000", 150050 → "1500.5".
    pub fn major_string(&self) -> String {
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(exponent);
        let whole = self.minor / scale;
        let fraction = (self.minor % scale).abs();
        if fraction == 0 {
            return whole.to_string();
        }
        let fraction = format!("{fraction:0width$}", width = exponent as usize);
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    }

    /// For people: the code, grouped thousands and every minor digit (`NGN 5,000.00`, `UGX 25,000`).
    pub fn display(&self) -> String {
        let exponent = self.currency.exponent();
        let scale = 10i64.pow(exponent);
        let whole = (self.minor / scale).unsigned_abs().to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        let sign = if self.minor < 0 { "-" } else { "" };
        let code = self.currency.code();
        if exponent == 0 {
            return format!("{code} {sign}{grouped}");
        }
        let fraction = (self.minor % scale).abs();
        format!(
            "{code} {sign}{grouped}.{fraction:0width$}",
            width = exponent as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_groups_thousands_and_keeps_minor_digits() {
        assert_eq!(Money::from_minor(500_000, ngn()).display(), "NGN 5,000.00");
        assert_eq!(
            Money::from_minor(123_456_789, ngn()).display(),
            "NGN 1,234,567.89"
        );
        assert_eq!(Money::from_minor(5, ngn()).display(), "NGN 0.05");
        assert_eq!(Money::from_minor(25_000, ugx()).display(), "UGX 25,000");
        assert_eq!(Money::from_minor(999, ugx()).display(), "UGX 999");
    }

    fn ngn() -> Currency {
        Currency::parse("NGN").unwrap()
    }
    fn ugx() -> Currency {
        Currency::parse("UGX").unwrap()
    }

    #[test]
    fn parses_major_text_exactly() {
        assert_eq!(
            Money::from_major_str("45000", ngn()).unwrap().minor(),
            4_500_000
        );
        assert_eq!(
            Money::from_major_str("1500.5", ngn()).unwrap().minor(),
            150_050
        );
        assert_eq!(Money::from_major_str("0.3", ngn()).unwrap().minor(), 30);
        assert_eq!(Money::from_major_str("0.01", ngn()).unwrap().minor(), 1);
        assert_eq!(
            Money::from_major_str("100.50", ngn()).unwrap().minor(),
            10_050
        );
        assert_eq!(Money::from_major_str("2500", ugx()).unwrap().minor(), 2500);
        assert_eq!(
            Money::from_major_str("2500.0", ugx()).unwrap().minor(),
            2500
        );
    }

    #[test]
    fn refuses_what_is_not_an_exact_positive_amount() {
        use AmountError::*;
        assert_eq!(Money::from_major_str("0", ngn()), Err(NotPositive));
        assert_eq!(Money::from_major_str("0.00", ngn()), Err(NotPositive));
        assert_eq!(Money::from_major_str("-5", ngn()), Err(NotPositive));
        assert_eq!(Money::from_major_str("-0.001", ngn()), Err(NotPositive));
        assert_eq!(Money::from_major_str("1e3", ngn()), Err(NotDecimal));
        assert_eq!(Money::from_major_str("1E-2", ngn()), Err(NotDecimal));
        assert_eq!(Money::from_major_str("NaN", ngn()), Err(NotDecimal));
        assert_eq!(Money::from_major_str("1.", ngn()), Err(NotDecimal));
        assert_eq!(Money::from_major_str(".5", ngn()), Err(NotDecimal));
        assert_eq!(
            Money::from_major_str("1.001", ngn()),
            Err(TooPrecise {
                currency: "NGN",
                exponent: 2
            })
        );
        assert_eq!(
            Money::from_major_str("10.5", ugx()),
            Err(TooPrecise {
                currency: "UGX",
                exponent: 0
            })
        );
        assert_eq!(
            Money::from_major_str("92233720368547758.08", ngn()),
            Err(TooLarge)
        );
        assert_eq!(
            Money::from_major_str("99999999999999999999999", ugx()),
            Err(TooLarge)
        );
    }

    #[test]
    fn prints_the_shortest_exact_major_text() {
        for text in ["45000", "1500.5", "0.3", "0.01", "123456789.99"] {
            assert_eq!(
                Money::from_major_str(text, ngn()).unwrap().major_string(),
                text
            );
        }
        assert_eq!(
            Money::from_major_str("100.50", ngn())
                .unwrap()
                .major_string(),
            "100.5"
        );
        assert_eq!(Money::from_minor(2500, ugx()).major_string(), "2500");
    }

    #[test]
    fn largest_amount_survives_a_round_trip() {
        let max = Money::from_major_str("92233720368547758.07", ngn()).unwrap();
        assert_eq!(max.minor(), i64::MAX);
        assert_eq!(max.major_string(), "92233720368547758.07");
    }
}
