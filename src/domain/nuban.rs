//! NUBAN (Nigerian Uniform Bank Account Number) check digit, per the CBN standard: a 3-digit bank code
//! and a 9-digit serial are weighted 3,7,3,3,7,3,3,7,3,3,7,3; the check digit is (10 - sum mod 10) mod 10.

const WEIGHTS: [u32; 12] = [3, 7, 3, 3, 7, 3, 3, 7, 3, 3, 7, 3];

/// The tenth digit of a NUBAN for `bank_code` (3 digits) and `serial` (9 digits).
pub fn check_digit(bank_code: &str, serial: &str) -> Option<u32> {
    if bank_code.len() != 3 || serial.len() != 9 {
        return None;
    }
    let digits: Option<Vec<u32>> = bank_code
        .chars()
        .chain(serial.chars())
        .map(|c| c.to_digit(10))
        .collect();
    let sum: u32 = digits?.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    Some((10 - sum % 10) % 10)
}

/// Whether `account` (10 digits) is a valid NUBAN at the bank with `bank_code`.
pub fn is_valid(bank_code: &str, account: &str) -> bool {
    account.len() == 10
        && account.is_char_boundary(9)
        && check_digit(bank_code, &account[..9])
            .and_then(|d| account[9..].parse::<u32>().ok().map(|last| last == d))
            == Some(true)
}

/// A valid account number at `bank_code` derived from a 9-digit serial.
pub fn account_number(bank_code: &str, serial: &str) -> Option<String> {
    check_digit(bank_code, serial).map(|d| format!("{serial}{d}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_cbn_worked_example() {
        // CBN's published example: bank 011 (First Bank), serial 000001457 → check digit 9.
        assert_eq!(check_digit("011", "000001457"), Some(9));
        assert!(is_valid("011", "0000014579"));
        assert!(!is_valid("011", "0000014578"));
    }

    #[test]
    fn builds_valid_numbers_and_refuses_bad_input() {
        let account = account_number("058", "123456789").unwrap();
        assert_eq!(account.len(), 10);
        assert!(is_valid("058", &account));
        assert_eq!(check_digit("58", "123456789"), None);
        assert_eq!(check_digit("058", "12345678x"), None);
        assert!(!is_valid("058", "12345"));
    }
}
