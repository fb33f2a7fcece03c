//! Phone numbers, always held in E.164 form. Validity (length, ranges) comes from libphonenumber's
//! metadata through the `phonenumber` crate, not from a hand-written regex.

use phonenumber::Mode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    e164: String,
    country_code: u16,
}

impl Phone {
    /// Accepts an international number with its `+` country code; spaces, dashes and brackets are
    /// tolerated and dropped ("+234 801 234 5678" → "+2348012345678").
    pub fn parse(text: &str) -> Result<Phone, &'static str> {
        let text = text.trim();
        if !text.starts_with('+') {
            return Err("must be in E.164 format with a country code, e.g. +2348012345678");
        }
        if text.len() > 32
            || text
                .chars()
                .any(|c| !(c.is_ascii_digit() || " -()+".contains(c)))
        {
            return Err("must be in E.164 format, e.g. +2348012345678");
        }
        let number = phonenumber::parse(None, text)
            .map_err(|_| "must be in E.164 format, e.g. +2348012345678")?;
        if !phonenumber::is_valid(&number) {
            return Err("is not a valid phone number for its country");
        }
        Ok(Phone {
            e164: number.format().mode(Mode::E164).to_string(),
            country_code: number.code().value(),
        })
    }

    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The ITU calling code (234 for Nigeria, 256 for Uganda).
    pub fn country_code(&self) -> u16 {
        self.country_code
    }

    /// The number without its calling code (`+256772123456` → `772123456`), as Airtel wants MSISDNs.
    pub fn national(&self) -> &str {
        let code = self.country_code.to_string();
        self.e164
            .trim_start_matches('+')
            .strip_prefix(code.as_str())
            .unwrap_or(&self.e164[1..])
    }
}

/// The time zone a customer with this calling code most likely lives in, for quiet hours: one zone per
/// country Cowry serves (a country spanning zones gets its most populous one); `None` for the rest,
/// whose customers are treated in the merchant's zone.
pub fn zone_of(country_code: u16) -> Option<chrono_tz::Tz> {
    use chrono_tz::Africa;
    Some(match country_code {
        234 => Africa::Lagos,
        233 => Africa::Accra,
        254 => Africa::Nairobi,
        256 => Africa::Kampala,
        255 => Africa::Dar_es_Salaam,
        250 => Africa::Kigali,
        260 => Africa::Lusaka,
        265 => Africa::Blantyre,
        27 => Africa::Johannesburg,
        237 => Africa::Douala,
        225 => Africa::Abidjan,
        221 => Africa::Dakar,
        243 => Africa::Kinshasa,
        20 => Africa::Cairo,
        212 => Africa::Casablanca,
        44 => chrono_tz::Europe::London,
        1 => chrono_tz::America::New_York,
        91 => chrono_tz::Asia::Kolkata,
        86 => chrono_tz::Asia::Shanghai,
        61 => chrono_tz::Australia::Sydney,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calling_code_gives_the_customers_zone() {
        assert_eq!(zone_of(234), Some(chrono_tz::Africa::Lagos));
        assert_eq!(zone_of(254), Some(chrono_tz::Africa::Nairobi));
        assert_eq!(zone_of(61), Some(chrono_tz::Australia::Sydney));
        assert_eq!(zone_of(7), None);
    }

    #[test]
    fn normalises_valid_numbers() {
        let phone = Phone::parse("+2348012345678").unwrap();
        assert_eq!(phone.e164(), "+2348012345678");
        assert_eq!(phone.country_code(), 234);
        assert_eq!(
            Phone::parse(" +234 801-234-5678 ").unwrap().e164(),
            "+2348012345678"
        );
        assert_eq!(Phone::parse("+256772123456").unwrap().country_code(), 256);
        assert_eq!(
            Phone::parse("+256772123456").unwrap().national(),
            "772123456"
        );
        assert_eq!(
            Phone::parse("+2348012345678").unwrap().national(),
            "8012345678"
        );
    }

    #[test]
    fn refuses_numbers_that_are_not_e164_or_not_valid() {
        assert!(Phone::parse("08012345678").is_err());
        assert!(Phone::parse("+234801").is_err());
        assert!(Phone::parse("+2348012345678999").is_err());
        assert!(Phone::parse("+234abc").is_err());
        assert!(Phone::parse("").is_err());
        assert!(Phone::parse("+999123456789").is_err());
    }
}
