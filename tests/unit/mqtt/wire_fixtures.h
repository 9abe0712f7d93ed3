/* Packets recorded from the real Node.js device SDK (azure-iot-device-mqtt 1.16.4, mqtt.js
 * 4.3.8), as hex, copied from ../shared/fixtures/wire/mqtt-*.jsonl (see the README and
 * the .txt files there for the decoded view). "C>S" = sent by the real client; "S>C" =
 * forged by the capture tool. */
#ifndef TESTS_UNIT_MQTT_WIRE_FIXTURES_H
#define TESTS_UNIT_MQTT_WIRE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* mqtt-d2c: CONNECT (C>S), 309 bytes */
#define CAP_D2C_CONNECT                                                                            \
    "10b20200044d51545404c000b40011776972656361702d6465766963652d3031008c6c6f63616c686f73742f"     \
    "776972656361702d6465766963652d30312f3f6170692d76657273696f6e3d323032312d30342d3132264465"     \
    "76696365436c69656e74547970653d617a7572652d696f742d646576696365253246312e31382e3425323028"     \
    "6e6f64652532307632302e32302e3225334225323044656269616e2532303132253342253230783634290085"     \
    "5368617265644163636573735369676e61747572652073723d6c6f63616c686f737425324664657669636573"     \
    "253246776972656361702d6465766963652d3031267369673d474b445825324235304a42615671536961597a"     \
    "374535595a366c6c253246684430676c42724a7a69764d54515a6f492533442673653d313739353637303530"     \
    "35"

/* mqtt-d2c: CONNACK 0 (S>C, forged), 4 bytes */
#define CAP_CONNACK "20020000"

/* mqtt-d2c: PUBLISH QoS 1 with a property bag (C>S), 187 bytes */
#define CAP_D2C_PUBLISH_PROPS                                                                      \
    "32b8010098646576696365732f776972656361702d6465766963652d30312f6d657373616765732f6576656e"     \
    "74732f2532342e6d69643d6d73672d30303031262532342e6369643d636f72722d30303031262532342e6374"     \
    "3d6170706c69636174696f6e2532466a736f6e262532342e63653d7574662d3826636f6c6f723d7265642677"     \
    "69746825323073706163653d61253230622532366325334464d4737b2274656d7065726174757265223a3231"     \
    "2e352c22736571223a317d"

/* mqtt-d2c: PUBACK 54387 (S>C, forged), 4 bytes */
#define CAP_PUBACK "4002d473"

/* mqtt-d2c: PUBLISH QoS 1, bare message (C>S), 63 bytes */
#define CAP_D2C_PUBLISH_BARE                                                                       \
    "323d002a646576696365732f776972656361702d6465766963652d30312f6d657373616765732f6576656e74"     \
    "732fd474706c61696e207465787420626f6479"

/* mqtt-d2c: DISCONNECT (C>S), 2 bytes */
#define CAP_DISCONNECT "e000"

/* mqtt-c2d: SUBSCRIBE devicebound/# QoS 1 (C>S), 55 bytes */
#define CAP_C2D_SUBSCRIBE                                                                          \
    "8235317c0030646576696365732f776972656361702d6465766963652d30312f6d657373616765732f646576"     \
    "696365626f756e642f2301"

/* mqtt-c2d: SUBACK [1] (S>C, forged), 5 bytes */
#define CAP_C2D_SUBACK "9003317c01"

/* mqtt-c2d: C2D PUBLISH QoS 1 (S>C, forged), 253 bytes */
#define CAP_C2D_PUBLISH                                                                            \
    "32fa0100d9646576696365732f776972656361702d6465766963652d30312f6d657373616765732f64657669"     \
    "6365626f756e642f2532342e6d69643d6332642d6d73672d30303031262532342e746f3d2532466465766963"     \
    "6573253246776972656361702d6465766963652d30312532466d65737361676573253246646576696365426f"     \
    "756e64262532342e63743d6170706c69636174696f6e2532466a736f6e262532342e63653d7574662d382625"     \
    "32342e6369643d6332642d636f72722d3030303126696f746875622d61636b3d66756c6c26636f6c6f723d72"     \
    "656400647b22633264223a2268656c6c6f2066726f6d2066616b6520687562227d"

/* mqtt-c2d: PUBACK 100 (C>S), 4 bytes */
#define CAP_C2D_PUBACK "40020064"

/* mqtt-twin: CONNECT (C>S), 305 bytes */
#define CAP_TWIN_CONNECT                                                                           \
    "10ae0200044d51545404c000b40011776972656361702d6465766963652d3031008c6c6f63616c686f73742f"     \
    "776972656361702d6465766963652d30312f3f6170692d76657273696f6e3d323032312d30342d3132264465"     \
    "76696365436c69656e74547970653d617a7572652d696f742d646576696365253246312e31382e3425323028"     \
    "6e6f64652532307632302e32302e3225334225323044656269616e2532303132253342253230783634290081"     \
    "5368617265644163636573735369676e61747572652073723d6c6f63616c686f737425324664657669636573"     \
    "253246776972656361702d6465766963652d3031267369673d736b43627173447a73466f4d48637955727631"     \
    "6758716d6c59633039736f5442716d7374726754357376512533442673653d31373935363730353039"

/* mqtt-twin: SUBSCRIBE $iothub/twin/res/# QoS 0 (C>S), 25 bytes */
#define CAP_TWIN_SUBSCRIBE "82179e12001224696f746875622f7477696e2f7265732f2300"

/* mqtt-twin: PUBLISH QoS 0 twin GET, payload " " (C>S), 64 bytes */
#define CAP_TWIN_GET                                                                               \
    "303e003b24696f746875622f7477696e2f4745542f3f247269643d31653266653037322d653735652d343234"     \
    "382d393662652d38616661316262373139306420"

/* mqtt-twin: PUBLISH QoS 0 reported patch (C>S), 128 bytes */
#define CAP_TWIN_REPORTED                                                                          \
    "307e005124696f746875622f7477696e2f50415443482f70726f706572746965732f7265706f727465642f3f"     \
    "247269643d63373864633739642d316337612d343035342d393639662d3137616634306661613138377b2266"     \
    "69726d77617265223a22312e322e33222c2262617474657279223a7b226c6576656c223a38377d7d"

/* mqtt-twin: SUBSCRIBE desired/# QoS 0 (C>S), 46 bytes */
#define CAP_TWIN_SUBSCRIBE_DESIRED                                                                 \
    "822c9e13002724696f746875622f7477696e2f50415443482f70726f706572746965732f646573697265642f"     \
    "2300"

/* mqtt-methods: SUBSCRIBE $iothub/methods/POST/# QoS 0 (C>S), 29 bytes */
#define CAP_METHODS_SUBSCRIBE "821b211a001624696f746875622f6d6574686f64732f504f53542f2300"

/* mqtt-methods: method request PUBLISH QoS 0 (S>C, forged), 50 bytes */
#define CAP_METHODS_REQUEST                                                                        \
    "3030002324696f746875622f6d6574686f64732f504f53542f7265626f6f742f3f247269643d317b2264656c"     \
    "6179223a357d"

/* mqtt-methods: method response PUBLISH QoS 0 (C>S), 60 bytes */
#define CAP_METHODS_RESPONSE                                                                       \
    "303a001f24696f746875622f6d6574686f64732f7265732f3230302f3f247269643d317b227265626f6f7469"     \
    "6e67223a747275652c22696e223a357d"

/* Decodes a hex string into buf; returns the byte count (asserted by the caller). */
static inline size_t unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n && i < cap; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        buf[i] = (uint8_t)v;
    }
    return n < cap ? n : cap;
}

#endif
