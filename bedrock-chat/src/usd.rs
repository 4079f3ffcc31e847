//! Amounts of money, for costs and budgets.

use std::fmt;

/// An amount in US dollars, shown the way a person reads it: cents and fractions of a cent
/// below a dollar (`$0.0123`), cents above (`$4.56`).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Usd(pub f64);

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An empty sum of f64 is -0.0; nobody wants to read "$-0.00".
        let usd = if self.0 == 0.0 { 0.0 } else { self.0 };
        if usd != 0.0 && usd.abs() < 1.0 {
            write!(f, "${usd:.4}")
        } else {
            write!(f, "${usd:.2}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_read_naturally() {
        assert_eq!(Usd(0.00123).to_string(), "$0.0012");
        assert_eq!(Usd(4.5).to_string(), "$4.50");
        assert_eq!(Usd(0.0135).to_string(), "$0.0135");
        assert_eq!(Usd(0.0).to_string(), "$0.00");
        assert_eq!(Usd(-0.0).to_string(), "$0.00");
        assert_eq!(Usd([].iter().sum()).to_string(), "$0.00");
    }
}
