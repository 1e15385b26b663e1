//! How a batched statement writes its parameters: numbered (`$n`) for
//! PostgreSQL, anonymous (`?`, bound in the order they appear) for SQLite.
//! sqlx asks SQLite the name of every numbered parameter it binds, and
//! SQLite finds it by a linear search over the statement's parameters, so
//! binding a batch's hundreds of `$n` was quadratic (4 % of a keyless
//! `/v1` call's CPU for the ledger's 64-row statement, `perf`, `echo` at
//! eight connections). Statements written with either bind the same values
//! in the same order, so one bind function serves both databases.

#[derive(Clone, Copy, Debug)]
pub(crate) enum Placeholders {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …` (SQLite).
    Anonymous,
}

impl Placeholders {
    /// The placeholder of the `n`th parameter (from 1).
    fn nth(self, n: usize) -> String {
        match self {
            Self::Numbered => format!("${n}"),
            Self::Anonymous => "?".to_owned(),
        }
    }

    /// The `rows` rows of a multi-row statement, `(…), (…)`: `row` writes
    /// one from the placeholder of each of its `per_row` parameters.
    pub(crate) fn rows(
        self,
        rows: usize,
        per_row: usize,
        row: impl Fn(&[String]) -> String,
    ) -> String {
        (0..rows)
            .map(|i| {
                let first = per_row * i + 1;
                let params: Vec<String> = (first..first + per_row).map(|n| self.nth(n)).collect();
                row(&params)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::Placeholders;

    #[test]
    fn both_forms_number_the_same_parameters_in_the_same_order() {
        let row = |p: &[String]| format!("({})", p.join(", "));
        assert_eq!(
            Placeholders::Numbered.rows(2, 3, row),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(
            Placeholders::Anonymous.rows(2, 3, row),
            "(?, ?, ?), (?, ?, ?)"
        );
    }
}
