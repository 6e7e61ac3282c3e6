/*
 * Clearhouse Stripe sandbox: a stand-in for https://js.stripe.com/v3/ (the part a card checkout uses).
 *
 *   var stripe = Stripe("pk_test_...");
 *   var card = stripe.elements().create("card");
 *   card.mount("#card-element");
 *   stripe.confirmCardPayment(clientSecret, { payment_method: { card: card, billing_details: { name: "..." } } })
 *     .then(function (result) { result.error ... or result.paymentIntent ... });
 *   stripe.createPaymentMethod({ type: "card", card: card, billing_details: { name: "..." } })
 *     .then(function (result) { result.error ... or result.paymentMethod.id ... });
 *
 * As with the real library, card data goes from the browser to the gateway (here the sandbox's
 * /v1/payment_methods, with the publishable key), never to the merchant's server. The real card
 * element lives in an iframe on Stripe's origin; this stand-in renders its inputs in the page.
 * When the intent answers requires_action, the issuer's 3-D Secure page opens in a modal
 * iframe (complete / fail buttons) and the intent is retrieved until the customer has answered.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/js\/v3\/stripe\.js(\?.*)?$/, "") : "/sandbox/stripe";
  var API = base + "/v1";
  var POLL_MS = 400;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "style") {
        node.style.cssText = attrs[key];
      } else if (key === "text") {
        node.textContent = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  // Stripe's form encoding: nested objects as bracketed keys.
  function encode(params, prefix, out) {
    out = out || [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      var name = prefix ? prefix + "[" + key + "]" : key;
      if (value === undefined || value === null || value === "") return;
      if (typeof value === "object") {
        encode(value, name, out);
      } else {
        out.push(encodeURIComponent(name) + "=" + encodeURIComponent(String(value)));
      }
    });
    return out.join("&");
  }

  function CardElement() {
    this.container = null;
    this.inputs = {};
  }

  CardElement.prototype.mount = function (target) {
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container) throw new Error("Stripe: no element to mount the card element in");
    var style = "padding:8px;border:1px solid #ccc;border-radius:4px;font-size:15px;box-sizing:border-box";
    this.inputs.number = el("input", { id: "stripe-card-number", inputmode: "numeric", autocomplete: "cc-number",
      placeholder: "Card number", "aria-label": "Card number", style: style + ";flex:3;min-width:12em" });
    this.inputs.expiry = el("input", { id: "stripe-card-expiry", autocomplete: "cc-exp", placeholder: "MM / YY",
      "aria-label": "Expiry", style: style + ";flex:1;min-width:5em" });
    this.inputs.cvc = el("input", { id: "stripe-card-cvc", inputmode: "numeric", autocomplete: "cc-csc",
      placeholder: "CVC", "aria-label": "CVC", maxlength: "4", style: style + ";flex:1;min-width:4em" });
    this.container = el("div", { "class": "StripeElement", style: "display:flex;gap:6px;flex-wrap:wrap" },
      [this.inputs.number, this.inputs.expiry, this.inputs.cvc]);
    container.appendChild(this.container);
    return this;
  };

  CardElement.prototype.clear = function () {
    Object.keys(this.inputs).forEach(function (name) { this.inputs[name].value = ""; }, this);
  };

  CardElement.prototype._card = function () {
    var expiry = (this.inputs.expiry.value || "").split("/");
    var year = (expiry[1] || "").trim();
    return {
      number: (this.inputs.number.value || "").replace(/[\s-]+/g, ""),
      exp_month: (expiry[0] || "").trim(),
      exp_year: year.length === 2 ? "20" + year : year,
      cvc: this.inputs.cvc.value || ""
    };
  };

  function Elements() {}
  Elements.prototype.create = function (type) {
    if (type !== "card") throw new Error("Stripe sandbox: only the card element is available");
    return new CardElement();
  };

  function Stripe(key) {
    if (!(this instanceof Stripe)) return new Stripe(key);
    if (!key || key.indexOf("pk_") !== 0) throw new Error("Stripe: a publishable key (pk_...) is required");
    this.key = key;
  }

  Stripe.prototype.elements = function () { return new Elements(); };

  Stripe.prototype._request = function (method, path, params) {
    var init = { method: method, headers: { "Authorization": "Bearer " + this.key } };
    var url = API + path;
    if (method === "GET") {
      url += "?" + encode(params);
    } else {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = encode(params);
    }
    return fetch(url, init).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw body.error || { type: "api_error", message: "The request failed." };
        return body;
      });
    });
  };

  function intentId(clientSecret) {
    var at = (clientSecret || "").indexOf("_secret_");
    return at > 0 ? clientSecret.slice(0, at) : "";
  }

  // The issuer's page in a modal; resolved when the intent no longer waits for the customer.
  Stripe.prototype._authenticate = function (intent, clientSecret) {
    var self = this;
    var redirect = (intent.next_action || {}).redirect_to_url || {};
    var frame = el("iframe", { id: "stripe-challenge-frame", src: redirect.url, title: "3D Secure authentication",
      style: "width:100%;height:360px;border:0" });
    var overlay = el("div", { id: "stripe-challenge", role: "dialog", "aria-modal": "true",
      style: "position:fixed;inset:0;background:rgba(0,0,0,.55);z-index:2147483647;overflow:auto" }, [
      el("div", { style: "background:#fff;width:420px;max-width:94vw;margin:6vh auto;padding:12px;border-radius:8px" },
        [frame])
    ]);
    document.body.appendChild(overlay);
    return new Promise(function (resolve, reject) {
      function poll() {
        self._request("GET", "/payment_intents/" + intent.id, { client_secret: clientSecret }).then(function (current) {
          if (current.status === "requires_action") {
            setTimeout(poll, POLL_MS);
            return;
          }
          overlay.parentNode.removeChild(overlay);
          resolve(current);
        }, function (error) {
          overlay.parentNode.removeChild(overlay);
          reject(error);
        });
      }
      setTimeout(poll, POLL_MS);
    });
  };

  function outcome(intent) {
    if (intent.status === "succeeded" || intent.status === "requires_capture" || intent.status === "processing") {
      return { paymentIntent: intent };
    }
    var error = intent.last_payment_error || { type: "card_error", code: "payment_intent_authentication_failure",
      message: "The payment was not completed." };
    error.payment_intent = intent;
    return { error: error };
  }

  // POST /v1/payment_methods with the publishable key: the card goes from the element to the gateway.
  Stripe.prototype._cardPaymentMethod = function (card, billingDetails) {
    return this._request("POST", "/payment_methods", { type: "card", card: card._card(),
      billing_details: billingDetails || {} });
  };

  // createPaymentMethod({type: "card", card: element, billing_details}) (or the older
  // createPaymentMethod("card", element, {billing_details})): {paymentMethod} or {error}.
  Stripe.prototype.createPaymentMethod = function (data, element, extra) {
    var options = typeof data === "string"
      ? { type: data, card: element, billing_details: (extra || {}).billing_details }
      : (data || {});
    if (options.type !== "card") {
      return Promise.resolve({ error: { type: "invalid_request_error", param: "type",
        message: "The sandbox only has cards." } });
    }
    if (!(options.card instanceof CardElement) || !options.card.container) {
      return Promise.resolve({ error: { type: "invalid_request_error", param: "card",
        message: "A mounted card element is required." } });
    }
    return this._cardPaymentMethod(options.card, options.billing_details)
      .then(function (paymentMethod) { return { paymentMethod: paymentMethod }; },
        function (error) { return { error: error }; });
  };

  Stripe.prototype.confirmCardPayment = function (clientSecret, data) {
    var self = this;
    var id = intentId(clientSecret);
    if (!id) return Promise.resolve({ error: { type: "invalid_request_error", message: "Invalid client secret." } });
    var method = (data && data.payment_method) || {};
    var created = method.card instanceof CardElement
      ? this._cardPaymentMethod(method.card, method.billing_details)
      : Promise.resolve({ id: method });
    return created.then(function (paymentMethod) {
      return self._request("POST", "/payment_intents/" + id + "/confirm",
        { client_secret: clientSecret, payment_method: paymentMethod.id });
    }).then(function (intent) {
      if (intent.status === "requires_action") return self._authenticate(intent, clientSecret).then(outcome);
      return outcome(intent);
    }).catch(function (error) {
      return { error: error };
    });
  };

  Stripe.prototype.retrievePaymentIntent = function (clientSecret) {
    return this._request("GET", "/payment_intents/" + intentId(clientSecret), { client_secret: clientSecret })
      .then(function (intent) { return { paymentIntent: intent }; }, function (error) { return { error: error }; });
  };

  window.Stripe = Stripe;
})();
