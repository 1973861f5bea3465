//! Title localisation, deliberately small: a handful of common title words translated for the
//! languages shoppers use most, everything else left in English, always the same output.

use alistach_domain::Language;

/// Title variants the catalog keeps: English plus the languages with a word list.
pub(crate) const SLOTS: usize = 7;

/// The title variant a language gets (Spanish variants share Spanish; unlisted ones get English).
pub(crate) fn slot(language: Language) -> usize {
    match language {
        Language::FR => 1,
        Language::ES | Language::MX | Language::CL => 2,
        Language::DE => 3,
        Language::PT => 4,
        Language::IT => 5,
        Language::RU => 6,
        _ => 0,
    }
}

/// English word → French, Spanish, German, Portuguese, Italian, Russian.
const WORDS: &[(&str, [&str; 6])] = &[
    (
        "Wireless",
        [
            "Sans-Fil",
            "Inalámbrico",
            "Kabellos",
            "Sem Fio",
            "Senza Fili",
            "Беспроводные",
        ],
    ),
    (
        "Waterproof",
        [
            "Étanche",
            "Impermeable",
            "Wasserdicht",
            "Impermeável",
            "Impermeabile",
            "Водонепроницаемый",
        ],
    ),
    (
        "Portable",
        [
            "Portable",
            "Portátil",
            "Tragbar",
            "Portátil",
            "Portatile",
            "Портативный",
        ],
    ),
    (
        "Smart",
        [
            "Intelligent",
            "Inteligente",
            "Smarte",
            "Inteligente",
            "Intelligente",
            "Умные",
        ],
    ),
    (
        "Watch",
        ["Montre", "Reloj", "Uhr", "Relógio", "Orologio", "Часы"],
    ),
    (
        "Phone",
        [
            "Téléphone",
            "Teléfono",
            "Handy",
            "Telefone",
            "Telefono",
            "Телефон",
        ],
    ),
    (
        "Case",
        ["Coque", "Funda", "Hülle", "Capa", "Custodia", "Чехол"],
    ),
    ("Bag", ["Sac", "Bolso", "Tasche", "Bolsa", "Borsa", "Сумка"]),
    (
        "Backpack",
        [
            "Sac-à-Dos",
            "Mochila",
            "Rucksack",
            "Mochila",
            "Zaino",
            "Рюкзак",
        ],
    ),
    (
        "Shoes",
        [
            "Chaussures",
            "Zapatos",
            "Schuhe",
            "Sapatos",
            "Scarpe",
            "Обувь",
        ],
    ),
    (
        "Sneakers",
        [
            "Baskets",
            "Zapatillas",
            "Turnschuhe",
            "Tênis",
            "Sneakers",
            "Кроссовки",
        ],
    ),
    ("Light", ["Lumière", "Luz", "Licht", "Luz", "Luce", "Свет"]),
    (
        "Lights",
        ["Lumières", "Luces", "Lichter", "Luzes", "Luci", "Огни"],
    ),
    (
        "Lamp",
        ["Lampe", "Lámpara", "Lampe", "Luminária", "Lampada", "Лампа"],
    ),
    (
        "Women",
        ["Femmes", "Mujer", "Damen", "Mulheres", "Donna", "Женские"],
    ),
    (
        "Women's",
        ["Femme", "Mujer", "Damen", "Feminino", "Donna", "Женские"],
    ),
    (
        "Men",
        ["Hommes", "Hombre", "Herren", "Homens", "Uomo", "Мужские"],
    ),
    (
        "Men's",
        ["Homme", "Hombre", "Herren", "Masculino", "Uomo", "Мужские"],
    ),
    (
        "Kids",
        [
            "Enfants",
            "Niños",
            "Kinder",
            "Crianças",
            "Bambini",
            "Детские",
        ],
    ),
    (
        "Baby",
        ["Bébé", "Bebé", "Baby", "Bebê", "Bambino", "Детский"],
    ),
    ("with", ["avec", "con", "mit", "com", "con", "с"]),
    ("for", ["pour", "para", "für", "para", "per", "для"]),
    (
        "Camera",
        [
            "Caméra",
            "Cámara",
            "Kamera",
            "Câmera",
            "Fotocamera",
            "Камера",
        ],
    ),
    (
        "Earbuds",
        [
            "Écouteurs",
            "Auriculares",
            "Ohrhörer",
            "Fones",
            "Auricolari",
            "Наушники",
        ],
    ),
    (
        "Earphones",
        [
            "Écouteurs",
            "Auriculares",
            "Ohrhörer",
            "Fones",
            "Auricolari",
            "Наушники",
        ],
    ),
    (
        "Headphones",
        [
            "Casque",
            "Auriculares",
            "Kopfhörer",
            "Fones de Ouvido",
            "Cuffie",
            "Наушники",
        ],
    ),
    (
        "Drone",
        ["Drone", "Dron", "Drohne", "Drone", "Drone", "Дрон"],
    ),
    (
        "Car",
        ["Voiture", "Coche", "Auto", "Carro", "Auto", "Автомобильный"],
    ),
    (
        "Set",
        ["Ensemble", "Juego", "Set", "Conjunto", "Set", "Набор"],
    ),
    (
        "Mat",
        [
            "Tapis",
            "Esterilla",
            "Matte",
            "Tapete",
            "Tappetino",
            "Коврик",
        ],
    ),
    (
        "Strip",
        ["Bande", "Tira", "Streifen", "Fita", "Striscia", "Лента"],
    ),
    (
        "Dress",
        ["Robe", "Vestido", "Kleid", "Vestido", "Vestito", "Платье"],
    ),
    (
        "Keyboard",
        [
            "Clavier",
            "Teclado",
            "Tastatur",
            "Teclado",
            "Tastiera",
            "Клавиатура",
        ],
    ),
    (
        "Mouse",
        ["Souris", "Ratón", "Maus", "Mouse", "Mouse", "Мышь"],
    ),
    (
        "Tent",
        ["Tente", "Tienda", "Zelt", "Barraca", "Tenda", "Палатка"],
    ),
    (
        "Toy",
        [
            "Jouet",
            "Juguete",
            "Spielzeug",
            "Brinquedo",
            "Giocattolo",
            "Игрушка",
        ],
    ),
    (
        "Gift",
        [
            "Cadeau",
            "Regalo",
            "Geschenk",
            "Presente",
            "Regalo",
            "Подарок",
        ],
    ),
    (
        "Necklace",
        [
            "Collier",
            "Collar",
            "Halskette",
            "Colar",
            "Collana",
            "Ожерелье",
        ],
    ),
];

/// The title in language slot `slot`: each listed word replaced, word order kept.
pub(crate) fn localize(english: &str, slot: usize) -> String {
    if slot == 0 {
        return english.to_owned();
    }
    let mut out = String::with_capacity(english.len() + 16);
    for (i, word) in english.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match WORDS.iter().find(|(en, _)| *en == word) {
            Some((_, tr)) => out.push_str(tr[slot - 1]),
            None => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_listed_words_only_and_keeps_english_for_slot_zero() {
        let en = "Noise Cancelling Wireless Earbuds with Mic";
        assert_eq!(localize(en, 0), en);
        assert_eq!(
            localize(en, slot(Language::FR)),
            "Noise Cancelling Sans-Fil Écouteurs avec Mic"
        );
        assert_eq!(
            localize(en, slot(Language::DE)),
            "Noise Cancelling Kabellos Ohrhörer mit Mic"
        );
        assert_eq!(
            localize(en, slot(Language::MX)),
            localize(en, slot(Language::ES))
        );
        assert_eq!(slot(Language::JA), 0);
        let all: Vec<usize> = Language::ALL.iter().map(|l| slot(*l)).collect();
        assert!(all.iter().all(|s| *s < SLOTS));
    }
}
