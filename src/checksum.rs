//! Check-digit algorithms for the identifiers we detect.
//!
//! Kept apart from the detectors so each algorithm can be tested against its
//! published definition (and python-stdnum as an oracle) without any of the
//! text-matching machinery. Every function takes digit *values* (0..=9), not
//! ASCII, and never allocates.

/// Weights of the first Norwegian national-ID check digit (K1) over d1..d9.
const NO_K1_WEIGHTS: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
/// Weights of the second check digit (K2) over d1..d9 and K1. The same weights
/// validate a Norwegian bank account, which is why digits alone cannot tell
/// the two apart.
const NO_K2_WEIGHTS: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

fn weighted_sum(digits: &[u8], weights: &[u32]) -> u32 {
    digits
        .iter()
        .zip(weights)
        .map(|(&d, &w)| u32::from(d) * w)
        .sum()
}

/// The MOD11 check digit for a weighted sum: `11 - (sum mod 11)`, with 11
/// meaning 0 and 10 meaning "no valid check digit exists" (`None`).
fn mod11_check_digit(sum: u32) -> Option<u8> {
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        d => Some(d as u8),
    }
}

/// Both check digits of a Norwegian fødselsnummer / D-number / H-number under
/// the rules in force before 2032.
pub fn no_national_id_classic(d: &[u8; 11]) -> bool {
    let k1 = mod11_check_digit(weighted_sum(&d[..9], &NO_K1_WEIGHTS));
    k1 == Some(d[9]) && no_k2_valid(d)
}

/// The check-digit rule for numbers issued from 1 January 2032: K1 may leave a
/// remainder of 0, 1, 2 or 3 (the weighted sum over d1..d9 and K1 with a final
/// weight of 1), K2 is computed as before from the actual K1.
pub fn no_national_id_2032(d: &[u8; 11]) -> bool {
    let sum = weighted_sum(&d[..9], &NO_K1_WEIGHTS) + u32::from(d[9]);
    sum % 11 <= 3 && no_k2_valid(d)
}

fn no_k2_valid(d: &[u8; 11]) -> bool {
    mod11_check_digit(weighted_sum(&d[..10], &NO_K2_WEIGHTS)) == Some(d[10])
}

/// A Norwegian bank account number (kontonummer): MOD11 over the first ten
/// digits with weights 5,4,3,2,7,6,5,4,3,2.
pub fn no_bank_account(d: &[u8; 11]) -> bool {
    no_k2_valid(d)
}

/// A Norwegian organisation number: 9 digits, weights 3,2,7,6,5,4,3,2, MOD11,
/// first digit 8 or 9.
pub fn no_organisation_number(d: &[u8; 9]) -> bool {
    (d[0] == 8 || d[0] == 9)
        && mod11_check_digit(weighted_sum(&d[..8], &[3, 2, 7, 6, 5, 4, 3, 2])) == Some(d[8])
}

/// The Luhn (MOD10) check over all digits, the last being the check digit.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Danish CPR modulus-11 check (weights 4,3,2,7,6,5,4,3,2,1). Not every CPR
/// issued since 2007 satisfies it, so it is a confidence signal only.
pub fn dk_cpr_mod11(d: &[u8; 10]) -> bool {
    weighted_sum(d, &[4, 3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11)
}

/// The alphabet of the Finnish HETU check character, indexed by the remainder
/// of `DDMMYYZZZ mod 31`.
pub const FI_HETU_CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// The check character for a HETU's nine digits `DDMMYYZZZ`.
pub fn fi_hetu_check_char(nine_digits: &[u8; 9]) -> u8 {
    let n = nine_digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d));
    FI_HETU_CHECK_CHARS[(n % 31) as usize]
}

/// IBAN lengths by country (ISO 13616 registry). Countries not listed are not
/// accepted: an unknown prefix is far more often a product code than an IBAN.
pub fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "BY" => 28,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IQ" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LC" => 32,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NL" => 18,
        "NO" => 15,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SC" => 31,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "ST" => 25,
        "SV" => 28,
        "TL" => 23,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        "VG" => 24,
        "XK" => 20,
        _ => return None,
    };
    Some(len)
}

/// ISO 7064 MOD 97-10 over a compact upper-case IBAN, with the length checked
/// against the country's registered length.
pub fn iban(compact: &str) -> bool {
    let bytes = compact.as_bytes();
    if bytes.len() < 5 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if iban_length(&compact[..2]) != Some(bytes.len())
        || !bytes[..2].iter().all(u8::is_ascii_uppercase)
        || !bytes[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let rearranged = bytes[4..].iter().chain(&bytes[..4]);
    let mut remainder: u32 = 0;
    for &b in rearranged {
        match b {
            b'0'..=b'9' => remainder = (remainder * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => remainder = (remainder * 100 + u32::from(b - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    remainder == 1
}

/// Digit values of an ASCII digit string, or `None` if any byte is not a digit
/// or the length is not `N`.
pub fn digits<const N: usize>(ascii: &[u8]) -> Option<[u8; N]> {
    if ascii.len() != N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, &b) in out.iter_mut().zip(ascii) {
        if !b.is_ascii_digit() {
            return None;
        }
        *slot = b - b'0';
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d11(s: &str) -> [u8; 11] {
        digits(s.as_bytes()).expect("test literal is 11 digits")
    }

    /// Completes nine digits into an 11-digit classic number, if one exists.
    fn complete_classic(first9: &[u8; 9]) -> Option<[u8; 11]> {
        let k1 = mod11_check_digit(weighted_sum(first9, &NO_K1_WEIGHTS))?;
        let mut d = [0u8; 11];
        d[..9].copy_from_slice(first9);
        d[9] = k1;
        d[10] = mod11_check_digit(weighted_sum(&d[..10], &NO_K2_WEIGHTS))?;
        Some(d)
    }

    #[test]
    fn norwegian_national_id_table() {
        // Synthetic numbers computed from the published weights; cross-checked
        // with python-stdnum's no.fodselsnummer.is_valid.
        for valid in ["01010012356", "15076500565", "29029600013", "41018036736"] {
            assert!(no_national_id_classic(&d11(valid)), "{valid} should pass");
        }
        for invalid in ["01010012357", "15076500566", "12345678901", "00000000001"] {
            assert!(
                !no_national_id_classic(&d11(invalid)),
                "{invalid} should fail"
            );
        }
    }

    #[test]
    fn every_classic_number_is_also_a_valid_bank_account() {
        let d = d11("15076500565");
        assert!(no_national_id_classic(&d));
        assert!(no_bank_account(&d));
    }

    #[test]
    fn bank_account_table() {
        assert!(no_bank_account(&d11("86011117947")));
        assert!(no_bank_account(&d11("12345678903")));
        assert!(!no_bank_account(&d11("86011117948")));
    }

    #[test]
    fn rule_2032_accepts_classic_numbers_and_more() {
        let classic = d11("15076500565");
        assert!(no_national_id_2032(&classic));
        // Bump K1 by one (remainder 1 under the new rule) and recompute K2.
        let mut d = classic;
        d[9] = (d[9] + 1) % 10;
        let sum = weighted_sum(&d[..9], &NO_K1_WEIGHTS) + u32::from(d[9]);
        if sum % 11 <= 3
            && let Some(k2) = mod11_check_digit(weighted_sum(&d[..10], &NO_K2_WEIGHTS))
        {
            d[10] = k2;
            assert!(no_national_id_2032(&d));
            assert!(!no_national_id_classic(&d));
        }
    }

    #[test]
    fn organisation_number_table() {
        assert!(no_organisation_number(
            &digits(b"921760515").expect("9 digits")
        ));
        assert!(no_organisation_number(
            &digits(b"974760673").expect("9 digits")
        ));
        assert!(!no_organisation_number(
            &digits(b"921760516").expect("9 digits")
        ));
        assert!(!no_organisation_number(
            &digits(b"123456785").expect("9 digits")
        ));
    }

    #[test]
    fn luhn_table() {
        for valid in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "79927398713",
        ] {
            let d: Vec<u8> = valid.bytes().map(|b| b - b'0').collect();
            assert!(luhn(&d), "{valid}");
        }
        for invalid in ["4111111111111112", "79927398710", "1"] {
            let d: Vec<u8> = invalid.bytes().map(|b| b - b'0').collect();
            assert!(!luhn(&d), "{invalid}");
        }
    }

    #[test]
    fn iban_table() {
        for valid in [
            "NO9386011117947",
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "SE4550000000058398257466",
            "FI2112345600000785",
            "DK5000400440116243",
        ] {
            assert!(iban(valid), "{valid}");
        }
        for invalid in [
            "NO9386011117948",
            "NO938601111794",
            "XX9386011117947",
            "GB82WEST12345698765433",
            "no9386011117947",
        ] {
            assert!(!iban(invalid), "{invalid}");
        }
    }

    #[test]
    fn hetu_check_char_table() {
        // 131052-308T is the example in the DVV specification.
        assert_eq!(
            fi_hetu_check_char(&digits(b"131052308").expect("9 digits")),
            b'T'
        );
    }

    #[test]
    fn cpr_mod11_table() {
        assert!(dk_cpr_mod11(&digits(b"0707614285").expect("10 digits")));
        assert!(!dk_cpr_mod11(&digits(b"0707614286").expect("10 digits")));
    }

    fn single_digit_changes(d: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for i in 0..d.len() {
            for v in 0..10u8 {
                if v != d[i] {
                    let mut c = d.to_vec();
                    c[i] = v;
                    out.push(c);
                }
            }
        }
        out
    }

    fn adjacent_swaps(d: &[u8]) -> Vec<Vec<u8>> {
        (0..d.len() - 1)
            .filter(|&i| d[i] != d[i + 1])
            .map(|i| {
                let mut c = d.to_vec();
                c.swap(i, i + 1);
                c
            })
            .collect()
    }

    proptest! {
        #[test]
        fn classic_id_detects_every_single_digit_change_and_adjacent_swap(
            first9 in proptest::array::uniform9(0u8..10)
        ) {
            if let Some(valid) = complete_classic(&first9) {
                prop_assert!(no_national_id_classic(&valid));
                for changed in single_digit_changes(&valid) {
                    let arr: [u8; 11] = changed.try_into().expect("11 digits");
                    prop_assert!(!no_national_id_classic(&arr));
                }
                for swapped in adjacent_swaps(&valid) {
                    let arr: [u8; 11] = swapped.try_into().expect("11 digits");
                    prop_assert!(!no_national_id_classic(&arr));
                }
            }
        }

        #[test]
        fn bank_account_detects_every_single_digit_change_and_adjacent_swap(
            first10 in proptest::array::uniform10(0u8..10)
        ) {
            if let Some(k) = mod11_check_digit(weighted_sum(&first10, &NO_K2_WEIGHTS)) {
                let mut valid = [0u8; 11];
                valid[..10].copy_from_slice(&first10);
                valid[10] = k;
                prop_assert!(no_bank_account(&valid));
                for changed in single_digit_changes(&valid) {
                    let arr: [u8; 11] = changed.try_into().expect("11 digits");
                    prop_assert!(!no_bank_account(&arr));
                }
                for swapped in adjacent_swaps(&valid) {
                    let arr: [u8; 11] = swapped.try_into().expect("11 digits");
                    prop_assert!(!no_bank_account(&arr));
                }
            }
        }

        #[test]
        fn luhn_detects_every_single_digit_change_and_most_adjacent_swaps(
            body in proptest::collection::vec(0u8..10, 11..18)
        ) {
            let mut valid = body.clone();
            valid.push(0);
            let check = (0..10u8).find(|&c| { *valid.last_mut().expect("nonempty") = c; luhn(&valid) });
            prop_assert!(check.is_some());
            for changed in single_digit_changes(&valid) {
                prop_assert!(!luhn(&changed));
            }
            // Luhn's one documented blind spot is the 09 <-> 90 transposition.
            for i in 0..valid.len() - 1 {
                let pair = (valid[i], valid[i + 1]);
                if pair.0 != pair.1 && pair != (0, 9) && pair != (9, 0) {
                    let mut swapped = valid.clone();
                    swapped.swap(i, i + 1);
                    prop_assert!(!luhn(&swapped));
                }
            }
        }

        #[test]
        fn iban_detects_every_single_character_change_and_adjacent_swap(
            account in proptest::array::uniform11(0u8..10)
        ) {
            // Build a valid Norwegian IBAN around any 11 digits.
            let bban: String = account.iter().map(|d| char::from(b'0' + d)).collect();
            let check = (0..100u32)
                .map(|c| format!("NO{c:02}{bban}"))
                .find(|cand| iban(cand));
            let valid = check.expect("some check pair always exists");
            let bytes = valid.as_bytes().to_vec();
            for i in 2..bytes.len() {
                for v in b'0'..=b'9' {
                    if v != bytes[i] {
                        let mut c = bytes.clone();
                        c[i] = v;
                        prop_assert!(!iban(std::str::from_utf8(&c).expect("ascii")));
                    }
                }
            }
            for i in 2..bytes.len() - 1 {
                if bytes[i] != bytes[i + 1] {
                    let mut c = bytes.clone();
                    c.swap(i, i + 1);
                    prop_assert!(!iban(std::str::from_utf8(&c).expect("ascii")));
                }
            }
        }

        #[test]
        fn hetu_detects_every_single_digit_change_and_adjacent_swap(
            nine in proptest::array::uniform9(0u8..10)
        ) {
            let q = fi_hetu_check_char(&nine);
            for changed in single_digit_changes(&nine) {
                let arr: [u8; 9] = changed.try_into().expect("9 digits");
                prop_assert_ne!(fi_hetu_check_char(&arr), q);
            }
            for swapped in adjacent_swaps(&nine) {
                let arr: [u8; 9] = swapped.try_into().expect("9 digits");
                prop_assert_ne!(fi_hetu_check_char(&arr), q);
            }
        }

        #[test]
        fn cpr_mod11_detects_every_single_digit_change_and_adjacent_swap(
            first9 in proptest::array::uniform9(0u8..10)
        ) {
            // Complete nine digits to a number passing the modulus-11 check.
            let found = (0..10u8).find_map(|last| {
                let mut d = [0u8; 10];
                d[..9].copy_from_slice(&first9);
                d[9] = last;
                dk_cpr_mod11(&d).then_some(d)
            });
            if let Some(valid) = found {
                for changed in single_digit_changes(&valid) {
                    let arr: [u8; 10] = changed.try_into().expect("10 digits");
                    prop_assert!(!dk_cpr_mod11(&arr));
                }
                for swapped in adjacent_swaps(&valid) {
                    let arr: [u8; 10] = swapped.try_into().expect("10 digits");
                    prop_assert!(!dk_cpr_mod11(&arr));
                }
            }
        }

        #[test]
        fn organisation_number_detects_single_digit_changes(
            body in proptest::array::uniform7(0u8..10), first in 8u8..10
        ) {
            let mut d = [0u8; 9];
            d[0] = first;
            d[1..8].copy_from_slice(&body);
            if let Some(k) = mod11_check_digit(weighted_sum(&d[..8], &[3, 2, 7, 6, 5, 4, 3, 2])) {
                d[8] = k;
                prop_assert!(no_organisation_number(&d));
                for changed in single_digit_changes(&d[1..]) {
                    let mut c = [0u8; 9];
                    c[0] = first;
                    c[1..].copy_from_slice(&changed);
                    prop_assert!(!no_organisation_number(&c));
                }
            }
        }
    }
}
