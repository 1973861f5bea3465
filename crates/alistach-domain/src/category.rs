//! Categories, flat as the platform lists them and as a tree of parents and children.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A category id (`44` = Consumer Electronics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CategoryId(pub u64);

impl fmt::Display for CategoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for CategoryId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse()
                .map(CategoryId)
                .map_err(|_| ValidationError::new("category_id", "is too large"))
        } else {
            Err(ValidationError::new(
                "category_id",
                "must be a numeric category id of at most 12 digits",
            ))
        }
    }
}

/// A category as the platform lists it; top-level categories have no parent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Category {
    /// The id.
    pub id: CategoryId,
    /// The (English) name.
    pub name: String,
    /// The parent, for second-level categories.
    pub parent_id: Option<CategoryId>,
}

/// A top-level category with its children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryNode {
    /// The top-level category.
    pub category: Category,
    /// Its second-level categories, in platform order.
    pub children: Vec<Category>,
}

/// All categories as a two-level tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryTree {
    /// Top-level categories in platform order.
    pub roots: Vec<CategoryNode>,
    /// Children whose parent the platform did not list, kept rather than dropped.
    pub orphans: Vec<Category>,
}

impl CategoryTree {
    /// Builds the tree from the platform's flat list.
    pub fn from_flat(categories: &[Category]) -> Self {
        let mut tree = CategoryTree::default();
        for c in categories.iter().filter(|c| c.parent_id.is_none()) {
            tree.roots.push(CategoryNode {
                category: c.clone(),
                children: Vec::new(),
            });
        }
        for c in categories.iter().filter(|c| c.parent_id.is_some()) {
            match tree
                .roots
                .iter_mut()
                .find(|r| Some(r.category.id) == c.parent_id)
            {
                Some(root) => root.children.push(c.clone()),
                None => tree.orphans.push(c.clone()),
            }
        }
        tree
    }

    /// Finds a category at either level.
    pub fn find(&self, id: CategoryId) -> Option<&Category> {
        self.roots.iter().find_map(|r| {
            if r.category.id == id {
                Some(&r.category)
            } else {
                r.children.iter().find(|c| c.id == id)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_from_a_flat_list() {
        let flat = vec![
            Category {
                id: CategoryId(44),
                name: "Consumer Electronics".into(),
                parent_id: None,
            },
            Category {
                id: CategoryId(63705),
                name: "Earphones".into(),
                parent_id: Some(CategoryId(44)),
            },
            Category {
                id: CategoryId(3),
                name: "Apparel".into(),
                parent_id: None,
            },
            Category {
                id: CategoryId(9),
                name: "Lost".into(),
                parent_id: Some(CategoryId(1)),
            },
        ];
        let tree = CategoryTree::from_flat(&flat);
        assert_eq!(tree.roots.len(), 2);
        assert_eq!(tree.roots[0].children[0].id, CategoryId(63705));
        assert_eq!(tree.orphans.len(), 1);
        assert_eq!(tree.find(CategoryId(63705)).unwrap().name, "Earphones");
    }
}
