//! Conversion of wire types into domain and public types.

use alistach_domain::{
    AffiliateOrder, Category, CategoryId, CategoryRef, Cents, Currency, Decimal, Money, Product,
    ProductId, PromoCode, Shop, platform_time,
};

use crate::model::{Order, Promo, PromotionLink};
use crate::wire::{Text, WireCategory, WireLink, WireOrder, WireProduct, WirePromo};

/// A wire product as a domain product; `None` when it has no usable id (nothing could refer
/// to it).
pub(crate) fn product(w: WireProduct) -> Option<Product> {
    let id = ProductId(w.product_id.0.filter(|id| *id > 0)?);
    let mut p = Product::new(id, w.product_title.owned().unwrap_or_default());
    if let Some(url) = w.product_detail_url.owned() {
        p.detail_url = url;
    }
    p.main_image_url = w.product_main_image_url.owned();
    p.image_urls = w
        .product_small_image_urls
        .0
        .into_iter()
        .filter_map(|t| t.0)
        .collect();
    p.video_url = w.product_video_url.owned();
    p.promotion_link = w.promotion_link.owned();
    p.sale_price = price(&w.target_sale_price, &w.target_sale_price_currency)
        .or_else(|| price(&w.sale_price, &w.sale_price_currency));
    p.original_price = price(&w.target_original_price, &w.target_original_price_currency)
        .or_else(|| price(&w.original_price, &w.original_price_currency));
    p.app_sale_price = price(&w.target_app_sale_price, &w.target_app_sale_price_currency)
        .or_else(|| price(&w.app_sale_price, &w.app_sale_price_currency));
    p.discount_percent = percent(&w.discount);
    p.rating_percent = percent(&w.evaluate_rate);
    p.sales_volume = w.lastest_volume.0;
    p.commission_rate_percent = percent(&w.commission_rate);
    p.hot_commission_rate_percent = percent(&w.hot_product_commission_rate);
    p.first_level_category = w.first_level_category_id.0.map(|id| CategoryRef {
        id: CategoryId(id),
        name: w.first_level_category_name.owned(),
    });
    p.second_level_category = w.second_level_category_id.0.map(|id| CategoryRef {
        id: CategoryId(id),
        name: w.second_level_category_name.owned(),
    });
    p.shop = Shop {
        id: w.shop_id.0,
        url: w.shop_url.owned(),
        name: w.shop_name.owned(),
    };
    p.platform_product_type = w.platform_product_type.owned();
    p.ship_to_days = w.ship_to_days.owned();
    p.promo_code = w.promo_code_info.and_then(|c| {
        Some(PromoCode {
            code: c.promo_code.owned()?,
            value: c.code_value.owned(),
            minimum_spend: c.code_mini_spend.owned(),
            valid_from: c.code_availabletime_start.owned(),
            valid_until: c.code_availabletime_end.owned(),
            promotion_url: c.code_promotionurl.owned(),
        })
    });
    Some(p)
}

/// A price with its currency; absent when either is missing or unknown (the platform has
/// sent currencies outside its documented list, e.g. CNY).
fn price(amount: &Text, currency: &Text) -> Option<Money> {
    let amount: Decimal = amount.get()?.trim().parse().ok()?;
    let currency: Currency = currency.get()?.parse().ok()?;
    Some(Money::new(amount, currency))
}

/// `"7.0%"` → 7.0; plain numbers are taken as percentages too.
pub(crate) fn percent(text: &Text) -> Option<Decimal> {
    let t = text.get()?.trim();
    t.strip_suffix('%').unwrap_or(t).trim().parse().ok()
}

fn decimal(text: &Text) -> Option<Decimal> {
    text.get()?.trim().parse().ok()
}

pub(crate) fn category(w: WireCategory) -> Option<Category> {
    Some(Category {
        id: CategoryId(w.category_id.0?),
        name: w.category_name.owned().unwrap_or_default(),
        parent_id: w.parent_category_id.0.filter(|p| *p > 0).map(CategoryId),
    })
}

pub(crate) fn link(w: WireLink) -> Option<PromotionLink> {
    Some(PromotionLink {
        source_value: w.source_value.owned()?,
        promotion_link: w.promotion_link.owned()?,
        message: w.message.owned(),
    })
}

pub(crate) fn promo(w: WirePromo) -> Option<Promo> {
    Some(Promo {
        name: w.promo_name.owned()?,
        description: w.promo_desc.owned(),
        product_count: w.product_num.0,
    })
}

pub(crate) fn order(w: WireOrder) -> Order {
    Order {
        order_id: w.order_id.0,
        sub_order_id: w.sub_order_id.0,
        order_status: w.order_status.owned(),
        tracking_id: w.tracking_id.owned(),
        category_id: w.category_id.0,
        product_id: w.product_id.0.map(ProductId),
        product_title: w.product_title.owned(),
        product_detail_url: w.product_detail_url.owned(),
        product_main_image_url: w.product_main_image_url.owned(),
        product_count: w.product_count.0,
        paid_amount: decimal(&w.paid_amount),
        paid_time: w.paid_time.owned(),
        finished_amount: decimal(&w.finished_amount),
        finished_time: w.finished_time.owned(),
        created_time: w.created_time.owned(),
        commission_rate_percent: percent(&w.commission_rate),
        estimated_paid_commission: decimal(&w.estimated_paid_commission),
        estimated_finished_commission: decimal(&w.estimated_finished_commission),
        is_new_buyer: w.is_new_buyer.0,
        is_hot_product: w.is_hot_product.0,
        is_affiliate_product: w.is_affiliate_product.0,
        effect_detail_status: w.effect_detail_status.owned(),
        order_type: w.order_type.owned(),
        settled_currency: w.settled_currency.owned(),
        ship_to_country: w.ship_to_country.owned(),
        completed_settlement_time: w.completed_settlement_time.owned(),
        custom_parameters: w.custom_parameters.owned(),
    }
}

/// An amount in cents: integer text is minor units (what the platform sends, `1113` for
/// 11.13), text with a decimal point is whole units (`11.13`), rounded half away from zero
/// to the cent. `None` when absent or unreadable.
pub(crate) fn cents(text: &Text) -> Option<Cents> {
    let t = text.get()?.trim();
    if t.contains('.') {
        let d: Decimal = t.parse().ok()?;
        d.round_to(2).to_minor_units(2).map(Cents)
    } else {
        t.parse::<i64>().ok().map(Cents)
    }
}

/// A wire order as the domain's, or `None` without a sub-order id (nothing could key it).
/// Times are PST text on the wire, Unix ms here.
pub(crate) fn affiliate_order(w: &WireOrder) -> Option<AffiliateOrder> {
    let time = |t: &Text| t.get().and_then(|t| platform_time::parse(t.trim()));
    Some(AffiliateOrder {
        sub_order_id: w.sub_order_id.0.filter(|id| *id > 0)?,
        order_id: w.order_id.0,
        status: w
            .order_status
            .owned()
            .unwrap_or_else(|| "Unknown".to_owned()),
        tracking_id: w.tracking_id.owned(),
        product_id: w.product_id.0,
        product_title: w.product_title.owned(),
        category_id: w.category_id.0,
        product_count: w.product_count.0,
        paid_amount: cents(&w.paid_amount).unwrap_or(Cents::ZERO),
        finished_amount: cents(&w.finished_amount),
        estimated_paid_commission: cents(&w.estimated_paid_commission).unwrap_or(Cents::ZERO),
        estimated_finished_commission: cents(&w.estimated_finished_commission),
        commission_rate: w.commission_rate.owned(),
        currency: w
            .settled_currency
            .owned()
            .unwrap_or_else(|| "USD".to_owned()),
        created_at_ms: time(&w.created_time),
        paid_at_ms: time(&w.paid_time),
        finished_at_ms: time(&w.finished_time),
        custom_parameters: w.custom_parameters.owned(),
        ship_to_country: w.ship_to_country.owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn product_prefers_target_prices_and_parses_percentages() {
        let w: WireProduct = serde_json::from_value(json!({
            "product_id": "1005006123456789",
            "product_title": "Wireless Earbuds",
            "sale_price": "17.99", "sale_price_currency": "USD",
            "target_sale_price": "16.55", "target_sale_price_currency": "EUR",
            "original_price": "39.99", "original_price_currency": "USD",
            "app_sale_price": "15.00", "app_sale_price_currency": "CNY",
            "discount": "55%", "evaluate_rate": "96.1%", "commission_rate": "7.0%",
            "hot_product_commission_rate": "0.0%",
            "lastest_volume": 5231,
            "first_level_category_id": 44, "first_level_category_name": "Consumer Electronics",
            "second_level_category_id": "63705",
            "shop_id": 1102345678, "shop_url": "https://www.aliexpress.com/store/1102345678",
            "product_small_image_urls": {"string": ["a.jpg", "b.jpg"]},
            "product_video_url": "",
            "promo_code_info": {"promo_code": "AFF3", "code_value": "3 off", "code_mini_spend": "20"}
        }))
        .unwrap();
        let p = product(w).unwrap();
        assert_eq!(p.id, ProductId(1005006123456789));
        assert_eq!(
            p.detail_url,
            "https://www.aliexpress.com/item/1005006123456789.html"
        );
        assert_eq!(
            p.sale_price,
            Some(Money::new("16.55".parse().unwrap(), Currency::EUR))
        );
        assert_eq!(
            p.original_price,
            Some(Money::new("39.99".parse().unwrap(), Currency::USD))
        );
        assert_eq!(
            p.app_sale_price, None,
            "CNY is not a platform target currency"
        );
        assert_eq!(p.commission_rate_percent, Some("7.0".parse().unwrap()));
        assert_eq!(p.discount_percent, Some("55".parse().unwrap()));
        assert_eq!(p.hot_commission_rate_percent, Some(Decimal::ZERO));
        assert_eq!(p.sales_volume, Some(5231));
        assert_eq!(
            p.first_level_category.as_ref().unwrap().name.as_deref(),
            Some("Consumer Electronics")
        );
        assert_eq!(
            p.second_level_category.as_ref().unwrap().id,
            CategoryId(63705)
        );
        assert_eq!(p.image_urls, vec!["a.jpg".to_owned(), "b.jpg".to_owned()]);
        assert_eq!(p.video_url, None);
        assert_eq!(p.shop.id, Some(1102345678));
        assert_eq!(p.promo_code.unwrap().code, "AFF3");
    }

    #[test]
    fn products_without_ids_are_dropped() {
        let w: WireProduct = serde_json::from_value(json!({"product_title": "x"})).unwrap();
        assert!(product(w).is_none());
    }

    #[test]
    fn orders_read_flags_and_both_parameter_spellings() {
        let w: WireOrder = serde_json::from_value(json!({
            "order_id": 1, "sub_order_id": "2", "paid_amount": 1113, "commission_rate": "7.00%",
            "is_new_buyer": "Y", "is_hot_product": "N", "customer_parameters": "{\"a\":1}"
        }))
        .unwrap();
        let o = order(w);
        assert_eq!(o.sub_order_id, Some(2));
        assert_eq!(o.paid_amount, Some(Decimal::new(1113, 0)));
        assert_eq!(o.commission_rate_percent, Some(Decimal::new(7, 0)));
        assert_eq!(o.is_new_buyer, Some(true));
        assert_eq!(o.is_hot_product, Some(false));
        assert_eq!(o.custom_parameters.as_deref(), Some("{\"a\":1}"));
    }

    #[test]
    fn domain_orders_have_exact_cents_and_utc_times() {
        let w: WireOrder = serde_json::from_value(json!({
            "sub_order_id": 2, "order_status": "Payment Completed", "paid_amount": 1113,
            "estimated_paid_commission": "77", "finished_amount": "11.00",
            "estimated_finished_commission": "0.775", "paid_time": "2023-11-01 00:00:00",
            "settled_currency": "EUR", "customer_parameters": "{}"
        }))
        .unwrap();
        let o = affiliate_order(&w).unwrap();
        assert_eq!(o.paid_amount, Cents(1113), "integers are minor units");
        assert_eq!(o.estimated_paid_commission, Cents(77));
        assert_eq!(
            o.finished_amount,
            Some(Cents(1100)),
            "decimals are whole units"
        );
        assert_eq!(o.estimated_finished_commission, Some(Cents(78)));
        assert_eq!(o.paid_at_ms, Some(1_698_825_600_000), "PST is UTC-8");
        assert_eq!(o.currency, "EUR");
        assert_eq!(o.custom_parameters.as_deref(), Some("{}"));
        let none: WireOrder = serde_json::from_value(json!({"order_id": 1})).unwrap();
        assert!(affiliate_order(&none).is_none());
    }
}
